package io.jmesh.telemetry.ingest;

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
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A record that passes every check but whose counting throws (a bug no validation foresaw) is dead-lettered as
 * {@code internal_error} and the partition goes on: before, the exception ended the ingest thread for good while the
 * service still answered ready.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class InternalErrorTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final String KEY = "Kubernetes//Pod/default/productpage-v1-abc12"; // one partition, in order

    @Test
    void aRecordWhoseCountingThrowsIsDeadLetteredAndIngestGoesOn() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("bug"), "a");
        AtomicBoolean thrown = new AtomicBoolean();
        IngestListener failsOnce = new IngestListener() {
            @Override
            public void onConnection(ConnectionEvent event, SeriesKey series, long nowMillis) {
                if (thrown.compareAndSet(false, true)) {
                    throw new IllegalStateException("a bug in a listener");
                }
            }

            @Override
            public void onRequest(RequestEvent event, SeriesKey series, long nowMillis) {}

            @Override
            public void committed(long nowMillis) {}

            @Override
            public void aborted() {}
        };
        PrometheusRegistry registry = new PrometheusRegistry();
        ConnectionEvent opened = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        EventIngestor ingestor = EventIngestor.start(cfg, Duration.ofHours(1), Duration.ofDays(7), Clock.systemUTC(),
                failsOnce, registry);
        try (EventProducer p = new EventProducer(kafka)) {
            ingestor.ready().toCompletableFuture().get(60, TimeUnit.SECONDS);
            p.send(cfg.connectionTopic(), KEY, opened);
            p.send(cfg.connectionTopic(), KEY, opened);
            p.send(cfg.connectionTopic(), KEY, opened);

            await().atMost(Duration.ofSeconds(60)).until(() -> value(registry, "telemetry_records_rejected",
                    "reason", EventIngestor.INTERNAL_ERROR) == 1 && value(registry, "telemetry_records",
                    "outcome", "counted") == 2);
            assertThat(ingestor.stopped()).isNotDone();

            // all or nothing: the dead-lettered record is in no counter, so a replay of the dead letter counts it
            // once (before, its OPENED was in istio_tcp_connections_opened_total already: 3, and 4 after a replay)
            p.send(cfg.connectionTopic(), KEY, Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 10, 20)); // same partition, after them: committed means the three are too
            await().atMost(Duration.ofSeconds(60)).until(() -> ingestor.totals().connectionsClosed() == 1);
            assertThat(ingestor.totals().connectionsOpened()).as("opened counted of 2 counted + 1 dead-lettered")
                    .isEqualTo(2);
        } finally {
            ingestor.close();
        }
        assertThat(ingestor.stopped().toCompletableFuture()).isCompleted();
    }

    /** The sum of {@code name}'s data points whose {@code label} is {@code value}. */
    static double value(PrometheusRegistry registry, String name, String label, String value) {
        double sum = 0;
        for (var s : registry.scrape()) {
            if (s.getMetadata().getName().equals(name) && s instanceof CounterSnapshot c) {
                for (var d : c.getDataPoints()) {
                    if (value.equals(d.getLabels().get(label))) {
                        sum += d.getValue();
                    }
                }
            }
        }
        return sum;
    }
}
