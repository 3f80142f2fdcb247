package io.jmesh.core.kafka.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.kafka.EventSink;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/** What the producer tests share: the outcomes of their events, and running a producer as the publisher does. */
final class ProducerRuns {

    private ProducerRuns() {
    }

    /** Completions of one test's events: how many were sent, how many succeeded, and the failures. */
    static final class Outcomes {
        final AtomicInteger sent = new AtomicInteger();
        final AtomicInteger acknowledged = new AtomicInteger();
        final List<Exception> failures = new ArrayList<>();

        EventSink.Completion next() {
            sent.incrementAndGet();
            return failure -> {
                if (failure == null) {
                    acknowledged.incrementAndGet();
                } else {
                    failures.add(failure);
                }
            };
        }

        int done() {
            return acknowledged.get() + failures.size();
        }
    }

    /** Runs the producer as the publisher's sender does until {@code done}, for at most a minute. */
    static void drive(WireProducer producer, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!done.getAsBoolean()) {
            assertThat(System.nanoTime()).as("still driving after a minute: %s", producer.state()).isLessThan(deadline);
            long due = producer.sendDue();
            Thread.sleep(due < 0 ? 5 : Math.max(1, Math.min(20, due / 1_000_000)));
        }
    }
}
