package io.jmesh.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The publisher against a real broker, and against a broker that went away. */
@Timeout(120)
class EventPublisherKafkaTest {

    @RegisterExtension
    final KafkaExtension kafka = new KafkaExtension();

    /** Both producers: Kafka's Java client (ca) and ours (ztunnel). */
    @ParameterizedTest(name = "wire producer: {0}")
    @ValueSource(booleans = {false, true})
    void eventsArriveAndAKafkaOutageDropsAndCountsWithoutBlocking(boolean wire) throws Exception {
        String topic = KafkaExtension.uniqueTopic("events");
        kafka.createTopic(topic, 2, false);
        PrometheusRegistry metrics = new PrometheusRegistry();
        KafkaSettings settings = new KafkaSettings(kafka.bootstrapServers(), 64, Duration.ofSeconds(3));
        EventPublisher publisher = wire ? EventPublisher.createWithWireProducer(settings, "test", metrics)
                : EventPublisher.create(settings, "test", metrics);
        try {
            for (int i = 0; i < 20; i++) {
                assertThat(publisher.publish(topic, ("k" + i).getBytes(StandardCharsets.UTF_8),
                        ("v" + i).getBytes(StandardCharsets.UTF_8))).isTrue();
            }
            List<String> seen = consume(topic, 20);
            assertThat(seen).hasSize(20).containsExactlyInAnyOrderElementsOf(
                    java.util.stream.IntStream.range(0, 20).mapToObj(i -> "v" + i).toList());
            await().atMost(Duration.ofSeconds(10)).until(() -> counter(metrics, "mesh_events_published", null) == 20);

            kafka.broker().close();
            // against a dead broker the bounded queue fills and the rest are dropped and counted
            int accepted = 0;
            for (int i = 0; i < 10_000; i++) {
                if (publisher.publish(topic, null, new byte[] {1})) {
                    accepted++;
                }
            }
            assertThat(accepted).isLessThan(10_000);
            assertThat(counter(metrics, "mesh_events_dropped", "queue_full")).isEqualTo(10_000 - accepted);
        } finally {
            publisher.close(Duration.ofSeconds(1));
        }
    }

    private List<String> consume(String topic, int n) {
        return kafka.readRecords(topic, n, Duration.ofSeconds(30)).stream()
                .map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
    }

    static double counter(PrometheusRegistry registry, String name, String reason) {
        return registry.scrape().stream()
                .filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason == null || reason.equals(d.getLabels().get("reason")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }
}
