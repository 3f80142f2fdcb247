package io.jmesh.telemetry.ingest;

import static io.jmesh.telemetry.ingest.InternalErrorTest.value;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A checkpoint this replica cannot decode (corrupt, or written by a newer version during a rolling upgrade) holds
 * its own partition only: before, the failed load made the ingest thread retry a rewind of its whole assignment
 * forever, so no partition was counted (and, without polls, the group would hand the partitions to the next replica
 * to wedge there). Deleting the checkpoint's key releases the partition, counted from its committed offset.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class UnreadableCheckpointTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @Test
    void anUnreadableCheckpointHoldsItsPartitionAloneUntilItIsDeleted() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("cp"), "a");
        TopicSetup.ensure(cfg, Duration.ofSeconds(30));
        String key = cfg.groupId() + "/" + cfg.connectionTopic() + "/0";
        PrometheusRegistry registry = new PrometheusRegistry();
        ConnectionEvent opened = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        try (EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.checkpointTopic(), key, "not a checkpoint".getBytes(StandardCharsets.UTF_8));
            p.send(cfg.connectionTopic(), 0, "held", opened.toByteArray());
            p.send(cfg.connectionTopic(), 1, "counted", opened.toByteArray());

            EventIngestor ingestor = EventIngestor.start(cfg, Duration.ofHours(1), Duration.ofDays(7),
                    Clock.systemUTC(), new IngestListener() {
                        @Override
                        public void onConnection(ConnectionEvent event, SeriesKey series, long nowMillis) {}

                        @Override
                        public void onRequest(RequestEvent event, SeriesKey series, long nowMillis) {}

                        @Override
                        public void committed(long nowMillis) {}

                        @Override
                        public void aborted() {}
                    }, registry);
            try {
                ingestor.ready().toCompletableFuture().get(60, TimeUnit.SECONDS);
                await().atMost(Duration.ofSeconds(60)).until(() -> counted(registry) == 1);
                assertThat(gauge(registry, "telemetry_partitions_held")).isEqualTo(1);
                assertThat(total(registry, "telemetry_checkpoints_unreadable")).isEqualTo(1);
                await().atMost(Duration.ofSeconds(30)).until(() -> ingestor.totals().connectionsOpened() == 1);

                p.send(cfg.checkpointTopic(), null, key, null);
                await().atMost(Duration.ofSeconds(60)).until(() -> counted(registry) == 2);
                assertThat(gauge(registry, "telemetry_partitions_held")).isZero();
                assertThat(total(registry, "telemetry_checkpoints_unreadable")).isEqualTo(1);
                await().atMost(Duration.ofSeconds(30)).until(() -> ingestor.totals().connectionsOpened() == 2);
                assertThat(ingestor.stopped()).isNotDone();
            } finally {
                ingestor.close();
            }
        }
    }

    private static double counted(PrometheusRegistry registry) {
        return value(registry, "telemetry_records", "outcome", "counted");
    }

    private static double total(PrometheusRegistry registry, String name) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream()).mapToDouble(d -> d.getValue()).sum();
    }

    private static double gauge(PrometheusRegistry registry, String name) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((GaugeSnapshot) s).getDataPoints().stream()).mapToDouble(d -> d.getValue()).sum();
    }
}
