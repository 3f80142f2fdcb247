package io.jmesh.telemetry.ingest;

import java.time.Duration;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/** Stopping a thread that owns a Kafka consumer: the consumer may only be touched from its own thread. */
public final class ConsumerThread {

    private ConsumerThread() {}

    /**
     * Wakes {@code consumer} (its poll throws WakeupException, its loop sees the cleared running flag) and waits up
     * to {@code deadline} for {@code thread} to finish; blocks, so never call it on an event loop.
     *
     * @param consumer null when the thread has not created it yet
     */
    public static void stop(KafkaConsumer<?, ?> consumer, Thread thread, Duration deadline) {
        if (consumer != null) {
            consumer.wakeup();
        }
        try {
            thread.join(deadline.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
