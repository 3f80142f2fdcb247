package io.jmesh.core.kafka.testing;

import io.jmesh.core.kafka.EventSink;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A producer for {@code EventPublisher.withSink} that takes nothing while it is full (a test says when), and
 * otherwise keeps every value it is given and acknowledges it at once: what a Kafka producer holding all it may looks
 * like to the publisher, without a broker's timing. Starts full. In mesh-core's test-jar.
 */
public final class FullOnCueSink implements EventSink {

    private volatile boolean full = true;
    private final List<byte[]> taken = new CopyOnWriteArrayList<>();

    /** Sets whether it refuses to take more. */
    public void full(boolean full) {
        this.full = full;
    }

    /** The values taken so far, in order. */
    public List<byte[]> taken() {
        return taken;
    }

    @Override
    public void send(String topic, byte[] key, byte[] value, Completion completion) {
        taken.add(value);
        completion.done(null);
    }

    @Override
    public boolean canTake() {
        return !full;
    }

    @Override
    public void close(Duration timeout) {
        // nothing held: every value was acknowledged when taken
    }

    @Override
    public void abort() {
        // nothing held
    }
}
