package io.jmesh.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.time.Duration;
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
