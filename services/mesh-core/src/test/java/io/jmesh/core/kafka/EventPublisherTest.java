package io.jmesh.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.kafka.testing.FullOnCueSink;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.time.Duration;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

class EventPublisherTest {

    @Test
    void disabledKafkaDropsAndCountsWithoutBlocking() {
        PrometheusRegistry registry = new PrometheusRegistry();
        try (EventPublisher p = EventPublisher.create(new KafkaSettings("", 16, Duration.ofSeconds(5)), "t", registry)) {
            for (int i = 0; i < 100; i++) {
                assertThat(p.publish("mesh.l4-events.v1", new byte[] {1}, new byte[] {2})).isFalse();
            }
        }
        assertThat(dropped(registry, "disabled")).isEqualTo(100);
    }

    @Test
    void anIdleSenderSleepsUntilAPublishWakesIt() throws Exception {
        MockProducer<byte[], byte[]> kafka = new MockProducer<>(true, new ByteArraySerializer(),
                new ByteArraySerializer());
        KafkaSettings settings = new KafkaSettings("mock:9092", 16, Duration.ofSeconds(5));
        // the idle sleep is an hour: the events can only reach Kafka because publish() wakes the sender
        try (EventPublisher p = EventPublisher.withSink(settings, "t", new PrometheusRegistry(),
                new KafkaClientSink(kafka), Duration.ofHours(1), Duration.ofMillis(5))) {
            for (int i = 1; i <= 3; i++) {
                assertThat(p.publish("mesh.l4-events.v1", new byte[] {1}, new byte[] {(byte) i})).isTrue();
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (kafka.history().size() < i && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                assertThat(kafka.history()).hasSize(i);
            }
            // a polling sender would have woken hundreds of times meanwhile; this one only at each publish
            assertThat(p.idleWakeups()).isLessThanOrEqualTo(3);
        }
    }

    /**
     * Under load, publishers do not wake the sender for each event: after a send it naps unannounced and then
     * takes everything that arrived meanwhile (here the nap is an hour, so only close can end it, and does, with
     * every event delivered).
     */
    @Test
    void aSenderBusySendingIsNotWokenForEachEvent() throws Exception {
        MockProducer<byte[], byte[]> kafka = new MockProducer<>(true, new ByteArraySerializer(),
                new ByteArraySerializer());
        KafkaSettings settings = new KafkaSettings("mock:9092", 128, Duration.ofSeconds(5));
        EventPublisher p = EventPublisher.withSink(settings, "t", new PrometheusRegistry(),
                new KafkaClientSink(kafka), Duration.ofHours(1), Duration.ofHours(1));
        try {
            assertThat(p.publish("mesh.l4-events.v1", new byte[] {1}, new byte[] {0})).isTrue();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (kafka.history().isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(kafka.history()).hasSize(1);
            long woken = p.publisherWakeups();
            for (int i = 1; i <= 100; i++) {
                assertThat(p.publish("mesh.l4-events.v1", new byte[] {1}, new byte[] {(byte) i})).isTrue();
            }
            assertThat(p.publisherWakeups()).as("no wake-up while the sender naps after a send").isEqualTo(woken);
            assertThat(kafka.history()).hasSize(1);
        } finally {
            p.close(Duration.ofSeconds(10));
        }
        assertThat(kafka.history()).as("close drains what the nap gathered").hasSize(101);
    }

    /**
     * An event Kafka refused after the publisher took it runs its caller's callback (so ztunnel can flag or give
     * back what it carried) before send_failed shows it; a refusal by {@code offer} is not counted until its caller
     * gives the event up.
     */
    @Test
    void aFailedSendRunsItsCallbackAndAnOfferedRefusalIsCountedOnlyWhenGivenUp() throws Exception {
        MockProducer<byte[], byte[]> kafka = new MockProducer<>(false, new ByteArraySerializer(),
                new ByteArraySerializer());
        PrometheusRegistry registry = new PrometheusRegistry();
        KafkaSettings settings = new KafkaSettings("mock:9092", 1, Duration.ofSeconds(5));
        try (EventPublisher p = EventPublisher.withSink(settings, "t", registry, new KafkaClientSink(kafka),
                Duration.ofMillis(10), Duration.ofMillis(5))) {
            java.util.concurrent.atomic.AtomicBoolean failed = new java.util.concurrent.atomic.AtomicBoolean();
            assertThat(p.publish("t", new byte[0], new byte[] {1}, () -> failed.set(true))).isTrue();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (kafka.history().isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(kafka.errorNext(new RuntimeException("refused"))).isTrue();
            assertThat(failed).as("the callback ran before the count").isTrue();
            assertThat(dropped(registry, "send_failed")).isEqualTo(1);

            // closed, it refuses: an offer's refusal counts only once its caller gives the event up
            p.close(Duration.ofSeconds(1));
            assertThat(p.offer("t", new byte[0], new byte[] {2}, null)).isFalse();
            assertThat(dropped(registry, "disabled")).isZero();
            p.countRefused("t");
            assertThat(dropped(registry, "disabled")).isEqualTo(1);
        }
    }

    /**
     * A sink that holds events due later (ours lingers 50 ms) does not make the idle sender deaf: a publish still
     * rings it, so a burst into a small queue is taken at once instead of overflowing while the sender sleeps.
     */
    @Test
    void anIdleSenderWhoseSinkHoldsEventsIsStillWokenByAPublish() throws Exception {
        java.util.List<byte[]> taken = new java.util.concurrent.CopyOnWriteArrayList<>();
        EventSink holding = new EventSink() {
            @Override
            public void send(String topic, byte[] key, byte[] value, Completion completion) {
                taken.add(value);
            }

            @Override
            public long sendDue() {
                return taken.isEmpty() ? -1 : Duration.ofHours(1).toNanos(); // held, due in an hour
            }

            @Override
            public void close(Duration timeout) {
            }

            @Override
            public void abort() {
            }
        };
        KafkaSettings settings = new KafkaSettings("mock:9092", 16, Duration.ofSeconds(5));
        try (EventPublisher p = EventPublisher.withSink(settings, "t", new PrometheusRegistry(), holding,
                Duration.ofHours(1), Duration.ofMillis(1))) {
            for (int i = 1; i <= 3; i++) {
                assertThat(p.publish("t", null, new byte[] {(byte) i})).isTrue();
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (taken.size() < i && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                assertThat(taken).as("event %d taken though the sink's next due time is an hour away", i).hasSize(i);
                Thread.sleep(50); // the sender is back asleep, holding
            }
        }
    }

    /**
     * What a caller kept back when the queue had no room goes out as soon as the sender has emptied the queue and
     * the producer can take more, without a publish or a timer of the caller's; while the producer is full the
     * sender does not ask.
     */
    @Test
    void aSenderWithRoomAgainAsksForWhatWasKeptBack() throws Exception {
        FullOnCueSink sink = new FullOnCueSink();
        java.util.List<byte[]> taken = sink.taken();
        KafkaSettings settings = new KafkaSettings("mock:9092", 1, Duration.ofSeconds(5));
        java.util.Queue<byte[]> keptBack = new java.util.concurrent.ConcurrentLinkedQueue<>();
        java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
        try (EventPublisher p = EventPublisher.withSink(settings, "t", new PrometheusRegistry(), sink,
                Duration.ofMillis(20), Duration.ofMillis(1))) {
            p.whenRoom(() -> {
                asked.incrementAndGet();
                byte[] next = keptBack.poll();
                if (next == null) {
                    return false;
                }
                if (!p.offer("t", null, next, null)) {
                    keptBack.add(next);
                }
                return true;
            });
            assertThat(p.publish("t", null, new byte[] {1})).isTrue(); // the queue of one holds it: the sink is full
            assertThat(p.offer("t", null, new byte[] {2}, null)).as("no room").isFalse();
            keptBack.add(new byte[] {2});
            keptBack.add(new byte[] {3});
            Thread.sleep(200); // idle wake-ups every 20 ms: none may ask while the sink is full
            assertThat(asked).hasValue(0);
            assertThat(taken).isEmpty();

            sink.full(false); // the producer has room: no publish follows, the sender's next wake-up finds it
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (taken.size() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(taken).extracting(v -> v[0]).containsExactly((byte) 1, (byte) 2, (byte) 3);
            assertThat(keptBack).isEmpty();
        }
    }

    /**
     * Under a steady overload the queue never runs empty (publishes keep it at seven eighths): what a caller kept
     * back still goes out, asked for every {@code SENDS_BETWEEN_REFILLS} events sent, into the places publishes
     * leave free, not only once the queue is empty.
     */
    @Test
    void keptEventsGoOutWhileTheQueueNeverRunsEmpty() throws Exception {
        java.util.concurrent.atomic.AtomicInteger permits = new java.util.concurrent.atomic.AtomicInteger();
        java.util.List<byte[]> taken = new java.util.concurrent.CopyOnWriteArrayList<>();
        EventSink slow = new EventSink() { // takes one event per permit the test hands out
            @Override
            public void send(String topic, byte[] key, byte[] value, Completion completion) {
                permits.decrementAndGet();
                taken.add(value);
                completion.done(null);
            }

            @Override
            public boolean canTake() {
                return permits.get() > 0;
            }

            @Override
            public void close(Duration timeout) {}

            @Override
            public void abort() {}
        };
        java.util.Queue<byte[]> keptBack = new java.util.concurrent.ConcurrentLinkedQueue<>();
        try (EventPublisher p = sixteenPlaces(slow, new PrometheusRegistry())) {
            p.whenRoom(() -> {
                boolean offered = false;
                for (byte[] next; (next = keptBack.peek()) != null && p.offer("t", null, next, null); ) {
                    keptBack.poll();
                    offered = true;
                }
                return offered;
            });
            for (int i = 0; i < 14; i++) {
                assertThat(p.publish("t", null, new byte[] {0})).isTrue();
            }
            assertThat(p.offer("t", null, new byte[] {0}, null)).isTrue();
            assertThat(p.offer("t", null, new byte[] {0}, null)).isTrue();
            for (int i = 1; i <= 5; i++) {
                assertThat(p.offer("t", null, new byte[] {(byte) i}, null)).as("full").isFalse();
                keptBack.add(new byte[] {(byte) i});
            }
            // one event at a time, each followed by a publish: the queue stays between 13 and 16, never empty
            for (int sent = 0; sent < 4 * EventPublisher.SENDS_BETWEEN_REFILLS && !keptBack.isEmpty(); sent++) {
                permits.incrementAndGet();
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (taken.size() <= sent && System.nanoTime() < deadline) {
                    Thread.sleep(0, 100_000);
                }
                assertThat(taken).as("event " + sent + " sent").hasSizeGreaterThan(sent);
                assertThat(p.queued()).as("never empty").isGreaterThan(0);
                p.publish("t", null, new byte[] {0});
            }
            assertThat(keptBack).as("every kept event queued again").isEmpty();
            permits.set(1_000);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (p.queued() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(taken).extracting(v -> v[0]).contains((byte) 1, (byte) 2, (byte) 3, (byte) 4, (byte) 5);
        }
    }

    /**
     * Once a caller keeps events back ({@code whenRoom}), the queue's last eighth is kept for its offers (events
     * whose loss nothing makes good): publishes are refused, and counted dropped, once the queue holds seven eighths
     * of its capacity, offers only when it is full.
     */
    @Test
    void theQueuesLastPlacesAreKeptForOffers() throws Exception {
        FullOnCueSink sink = new FullOnCueSink(); // takes nothing: the queue only fills
        PrometheusRegistry registry = new PrometheusRegistry();
        try (EventPublisher p = sixteenPlaces(sink, registry)) {
            p.whenRoom(() -> false);
            for (int i = 0; i < 14; i++) {
                assertThat(p.publish("t", null, new byte[] {(byte) i})).as("publish " + i).isTrue();
            }
            assertThat(p.publish("t", null, new byte[] {14})).as("14 of 16 queued: the rest is for offers").isFalse();
            assertThat(p.offer("t", null, new byte[] {15}, null)).isTrue();
            assertThat(p.offer("t", null, new byte[] {16}, null)).isTrue();
            assertThat(p.offer("t", null, new byte[] {17}, null)).as("full").isFalse();
            assertThat(p.queued()).isEqualTo(16);
            assertThat(registry.scrape().stream().filter(m -> m.getMetadata().getName().equals("mesh_events_dropped"))
                    .flatMap(m -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot) m).getDataPoints().stream())
                    .mapToDouble(d -> d.getValue()).sum()).as("only the refused publish").isEqualTo(1);

            sink.full(false);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (sink.taken().size() < 16 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(sink.taken()).hasSize(16);
        }
    }

    /** A publisher no caller keeps events for (ca's audit events) gives publishes the whole queue. */
    @Test
    void withoutKeptEventsPublishesHaveTheWholeQueue() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        try (EventPublisher p = sixteenPlaces(new FullOnCueSink(), registry)) { // a sink that takes nothing
            for (int i = 0; i < 16; i++) {
                assertThat(p.publish("t", null, new byte[] {(byte) i})).as("publish " + i).isTrue();
            }
            assertThat(p.publish("t", null, new byte[] {16})).as("full").isFalse();
            assertThat(p.queued()).isEqualTo(16);
            assertThat(dropped(registry, "queue_full")).isEqualTo(1);
        }
    }

    /** A publisher over {@code sink} with a queue of 16 events. */
    private static EventPublisher sixteenPlaces(EventSink sink, PrometheusRegistry registry) {
        return EventPublisher.withSink(new KafkaSettings("mock:9092", 16, Duration.ofSeconds(5)), "t", registry, sink,
                Duration.ofMillis(20), Duration.ofMillis(1));
    }

    @Test
    void settingsAreValidated() {
        assertThatThrownBy(() -> new KafkaSettings("x:1", 0, Duration.ofSeconds(5)))
                .hasMessageContaining("queueCapacity: 0");
        assertThatThrownBy(() -> new KafkaSettings("x:1", 1, Duration.ofMillis(10)))
                .hasMessageContaining("deliveryTimeout");
        assertThat(new KafkaSettings(null, 1, Duration.ofSeconds(2)).enabled()).isFalse();
    }

    static double dropped(PrometheusRegistry registry, String reason) {
        return registry.scrape().stream()
                .filter(s -> s.getMetadata().getName().equals("mesh_events_dropped"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }
}
