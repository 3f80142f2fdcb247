package io.jmesh.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    void anIdleSenderSleepsAndAPublishWakesItAtOnce() throws Exception {
        MockProducer<byte[], byte[]> kafka = new MockProducer<>(true, new ByteArraySerializer(),
                new ByteArraySerializer());
        KafkaSettings settings = new KafkaSettings("mock:9092", 16, Duration.ofSeconds(5));
        try (EventPublisher p = EventPublisher.withProducer(settings, "t", new PrometheusRegistry(), kafka)) {
            Thread.sleep(200);
            long before = p.idleWakeups();
            Thread.sleep(1000);
            // a 2 ms poll would wake ~500 times a second; the idle sender now sleeps up to 100 ms at a time
            assertThat(p.idleWakeups() - before).isLessThanOrEqualTo(15);

            long t0 = System.nanoTime();
            assertThat(p.publish("mesh.l4-events.v1", new byte[] {1}, new byte[] {2})).isTrue();
            while (kafka.history().isEmpty() && System.nanoTime() - t0 < 5_000_000_000L) {
                Thread.onSpinWait();
            }
            assertThat(kafka.history()).hasSize(1);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofMillis(80));
        }
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
