package io.jmesh.telemetry.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A mesh of a couple of thousand series does not fit one OTLP request under the 4 MiB an OpenTelemetry Collector's
 * gRPC receiver accepts by default (a series' two dozen labels make each data point ~1.3 KiB): before, the one
 * request was refused at every interval and nothing was ever exported. The points are now spread over requests
 * that each fit, every point exported exactly once.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OtlpRequestSizeTest {

    private static final int COLLECTOR_LIMIT = 4 * 1024 * 1024; // the Collector's max_recv_msg_size_mib default
    private static final int TCP_SERIES = 1_500;
    private static final int REQUEST_SERIES = 300;

    private FakeMetricsCollector collector;
    private List<ExportMetricsServiceRequest> received;

    @BeforeEach
    void startCollector() throws Exception {
        collector = FakeMetricsCollector.start(COLLECTOR_LIMIT);
        received = collector.received();
    }

    @AfterEach
    void stopCollector() throws Exception {
        collector.close();
    }

    @Test
    void aLargeMeshIsExportedInRequestsTheCollectorAcceptsEachPointOnce() throws Exception {
        PartitionAggregate agg = new PartitionAggregate(0);
        long now = System.currentTimeMillis();
        for (int i = 0; i < TCP_SERIES; i++) {
            agg.add(Events.closed(Reporter.SOURCE, Events.workload("client-" + i, "client", "v1"), Events.REVIEWS,
                    "reviews", 100, 10), now);
        }
        for (int i = 0; i < REQUEST_SERIES; i++) {
            agg.add(Events.request(Reporter.WAYPOINT, Events.workload("caller-" + i, "caller", "v1"), Events.REVIEWS,
                    "reviews", 200, 7), now);
        }
        MeshTotals totals = MeshTotals.of(List.of(agg));
        PrometheusRegistry registry = new PrometheusRegistry();
        OtlpConfig config = new OtlpConfig(collector.endpoint(), Duration.ofHours(1),
                Duration.ofSeconds(30), "");
        Vertx client = Vertx.vertx();
        try {
            OtlpMetricsExporter exporter = OtlpMetricsExporter.start(client, config, () -> totals, Clock.systemUTC(),
                    registry);
            exporter.exportNow().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            exporter.close();
        } finally {
            client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }

        assertThat(received).hasSizeGreaterThan(1);
        assertThat(received).allSatisfy(r -> assertThat(r.getSerializedSize()).isLessThan(COLLECTOR_LIMIT));
        Map<String, Integer> points = new HashMap<>();
        Map<String, Integer> seen = new HashMap<>();
        for (ExportMetricsServiceRequest r : received) {
            for (Metric m : r.getResourceMetrics(0).getScopeMetrics(0).getMetricsList()) {
                List<List<KeyValue>> attrs = m.hasSum()
                        ? m.getSum().getDataPointsList().stream().map(p -> p.getAttributesList()).toList()
                        : m.getHistogram().getDataPointsList().stream().map(p -> p.getAttributesList()).toList();
                for (List<KeyValue> a : attrs) {
                    points.merge(m.getName(), 1, Integer::sum);
                    seen.merge(m.getName() + " " + a, 1, Integer::sum);
                }
            }
        }
        assertThat(seen.values()).as("no point twice").containsOnly(1);
        for (String tcp : List.of("istio_tcp_connections_opened", "istio_tcp_connections_closed",
                "istio_tcp_connections_failed", "istio_tcp_sent_bytes", "istio_tcp_received_bytes")) {
            assertThat(points).containsEntry(tcp, TCP_SERIES);
        }
        for (String request : List.of("istio_requests", "istio_request_duration_milliseconds", "istio_request_bytes",
                "istio_response_bytes")) {
            assertThat(points).containsEntry(request, REQUEST_SERIES);
        }
    }
}
