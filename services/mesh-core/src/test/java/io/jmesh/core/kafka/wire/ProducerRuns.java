package io.jmesh.core.kafka.wire;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.core.kafka.EventSink;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.LoggerFactory;

/** What the producer tests share: the outcomes of their events, running a producer as the publisher does, its log. */
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

    /** The producer's log lines from now on, until {@link #stopListening}. */
    static ListAppender<ILoggingEvent> producerLines() {
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        producerLog().addAppender(lines);
        return lines;
    }

    static void stopListening(ListAppender<ILoggingEvent> lines) {
        producerLog().detachAppender(lines);
    }

    private static Logger producerLog() {
        return (Logger) LoggerFactory.getLogger(WireProducer.class);
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
