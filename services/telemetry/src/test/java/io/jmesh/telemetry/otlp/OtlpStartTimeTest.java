package io.jmesh.telemetry.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.testing.MutableClock;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * OTLP start times as the data model defines them for cumulative sums. A replica serves totals it did not count
 * itself since it started (loaded from a checkpoint after a restart, or handed over with a partition): its first
 * point of a series must be a reset point of unknown start (start time = time, so a consumer adds nothing for it),
 * not claim that the whole history happened since the process started. A series that expired and came back
 * counts from zero again: it must start anew rather than go backwards under the same start time.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OtlpStartTimeTest {

    private FakeMetricsCollector collector;
    private List<ExportMetricsServiceRequest> received;

    @BeforeEach
    void startCollector() throws Exception {
        collector = FakeMetricsCollector.start(0);
        received = collector.received();
    }

    @AfterEach
    void stopCollector() throws Exception {
        collector.close();
    }

    @Test
    void aSeriesStartsWithAResetPointKeepsItsStartAndStartsAnewAfterExpiring() throws Exception {
        MutableClock clock = new MutableClock(Instant.parse("2026-12-02T12:00:00Z"));
        // a partition's checkpoint: 100 connections counted before this replica existed
        PartitionAggregate loaded = new PartitionAggregate(0);
        for (int i = 0; i < 100; i++) {
            loaded.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"),
                    clock.millis());
        }
        AtomicReference<MeshTotals> totals = new AtomicReference<>(MeshTotals.of(List.of(loaded)));
        Vertx client = Vertx.vertx();
        try {
            OtlpMetricsExporter exporter = OtlpMetricsExporter.start(client,
                    new OtlpConfig(collector.endpoint(), Duration.ofHours(1), Duration.ofSeconds(30),
                            ""), totals::get, clock, new PrometheusRegistry());
            clock.advance(Duration.ofMinutes(1));
            NumberDataPoint first = exportOpened(exporter);
            clock.advance(Duration.ofMinutes(1));
            NumberDataPoint second = exportOpened(exporter);

            assertThat(first.getAsInt()).isEqualTo(100);
            assertThat(first.getStartTimeUnixNano()).as("the first point of a series this replica did not count from"
                    + " zero: a reset point of unknown start").isEqualTo(first.getTimeUnixNano());
            assertThat(second.getStartTimeUnixNano()).as("the same stream keeps its start")
                    .isEqualTo(first.getStartTimeUnixNano());

            // the series expires (gone from the export), then comes back counting from zero
            loaded.expire(clock.millis() + 1, clock.millis() + 1);
            totals.set(MeshTotals.of(List.of(loaded)));
            exportNow(exporter);
            clock.advance(Duration.ofMinutes(1));
            loaded.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), clock.millis());
            totals.set(MeshTotals.of(List.of(loaded)));
            clock.advance(Duration.ofMinutes(1));
            NumberDataPoint again = exportOpened(exporter);
            assertThat(again.getAsInt()).isEqualTo(1);
            assertThat(again.getStartTimeUnixNano()).as("a series back from expiry starts anew")
                    .isGreaterThan(second.getTimeUnixNano());
            exporter.close();
        } finally {
            client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private void exportNow(OtlpMetricsExporter exporter) throws Exception {
        received.clear();
        exporter.exportNow().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    /** Exports once and returns the point of istio_tcp_connections_opened. */
    private NumberDataPoint exportOpened(OtlpMetricsExporter exporter) throws Exception {
        exportNow(exporter);
        for (ExportMetricsServiceRequest r : received) {
            for (Metric m : r.getResourceMetrics(0).getScopeMetrics(0).getMetricsList()) {
                if (m.getName().equals("istio_tcp_connections_opened") && m.getSum().getDataPointsCount() > 0) {
                    return m.getSum().getDataPoints(0);
                }
            }
        }
        throw new AssertionError("no istio_tcp_connections_opened point in " + received);
    }
}
