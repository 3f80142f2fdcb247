package io.jmesh.core.kafka;

import java.time.Duration;

/**
 * Where {@link EventPublisher}'s sender thread hands events: a Kafka producer. Only that thread calls
 * {@link #send}, {@link #sendDue} and {@link #close}; {@link #abort} may come from any thread.
 */
public interface EventSink {

    /** How one event ended: {@code failure} is null once Kafka acknowledged it. Runs once; short, never blocks. */
    interface Completion {
        void done(Exception failure);
    }

    /** Takes one event; never blocks for long. */
    void send(String topic, byte[] key, byte[] value, Completion completion);

    /** False while the sink holds as much as it may: the sender then leaves events in the publisher's queue. */
    default boolean canTake() {
        return true;
    }

    /**
     * Sends whatever is due (a sink that sends on its own threads does nothing).
     *
     * @return nanoseconds until something held will next be due, or -1 when nothing is held
     */
    default long sendDue() {
        return -1;
    }

    /** Sends what it holds within {@code timeout}, fails the rest and releases everything. */
    void close(Duration timeout);

    /** Ends a {@link #close} or a send that is taking too long (any thread): what is left fails at once. */
    void abort();
}
