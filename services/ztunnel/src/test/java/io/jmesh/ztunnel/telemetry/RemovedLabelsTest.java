package io.jmesh.ztunnel.telemetry;

import static io.jmesh.ztunnel.telemetry.ConnectionTelemetryTest.CLIENT;
import static io.jmesh.ztunnel.telemetry.ConnectionTelemetryTest.SERVER;
import static io.jmesh.ztunnel.telemetry.ConnectionTelemetryTest.TCP;
import static io.jmesh.ztunnel.telemetry.ConnectionTelemetryTest.address;
import static io.jmesh.ztunnel.telemetry.ConnectionTelemetryTest.names;
import static io.jmesh.ztunnel.telemetry.ConnectionTelemetryTest.series;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * {@code telemetry.removeLabels}: the {@code istio_tcp_*} series leave the labels out, connections that differed only
 * in them add up in one series, and those series still expire, with their workloads where the workload and
 * namespace labels stay, and once idle for the window in any case.
 */
class RemovedLabelsTest {

    private static final Duration WINDOW = Duration.ofMinutes(10);

    private final AtomicLong now = new AtomicLong();
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-a", WINDOW,
            new RefusalLogLimit(20, Duration.ofSeconds(10), now::get),
            List.of("source_principal", "destination_principal", "response_flags"), now::get);

    /** An outbound connection from the client as {@code serviceAccount}. */
    private static ConnectionInfo outboundAs(String serviceAccount) {
        return new ConnectionInfo(true, CLIENT, SERVER,
                SpiffeId.parse("spiffe://cluster.local/ns/default/sa/" + serviceAccount),
                SpiffeId.parse("spiffe://cluster.local/ns/default/sa/server"), null,
                new InetSocketAddress("10.0.0.1", 40000), new InetSocketAddress("10.0.0.2", 15008), "10.0.0.2:80",
                true);
    }

    @Test
    void connectionsThatDifferedOnlyInRemovedLabelsAddUpInOneSeries() throws Exception {
        ConnectionTelemetry.Tracked a = telemetry.opened(outboundAs("a"));
        ConnectionTelemetry.Tracked b = telemetry.opened(outboundAs("b"));
        a.bytesFromSource().inc(10);
        b.bytesFromSource().inc(5);
        a.close(10, 0, "-", null);
        b.close(5, 0, "CONNECT", "connection refused");

        assertThat(series(registry, "istio_tcp_connections_opened")).singleElement().satisfies(s -> {
            assertThat(s.getValue()).isEqualTo(2);
            assertThat(s.getLabels().contains("source_principal")).isFalse();
            assertThat(s.getLabels().contains("destination_principal")).isFalse();
            assertThat(s.getLabels().contains("response_flags")).isFalse();
            assertThat(s.getLabels().get("source_workload")).isEqualTo("client");
            assertThat(s.getLabels().get("connection_security_policy")).isEqualTo("mutual_tls");
        });
        assertThat(series(registry, "istio_tcp_received_bytes")).singleElement()
                .satisfies(s -> assertThat(s.getValue()).isEqualTo(15));
        assertThat(series(registry, "istio_tcp_connections_closed")).as("a close's flags no longer split its series")
                .singleElement().satisfies(s -> assertThat(s.getValue()).isEqualTo(2));
        assertThat(series(registry, "istio_tcp_connections_failed")).singleElement()
                .satisfies(s -> assertThat(s.getValue()).isEqualTo(1));

        ByteArrayOutputStream text = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(text, registry.scrape());
        assertThat(text.toString(StandardCharsets.UTF_8)).contains("istio_tcp_connections_opened_total{")
                .doesNotContain("source_principal=").doesNotContain("response_flags=");
    }

    @Test
    void seriesStillGoWithTheirWorkloadsAndOnceIdle() {
        WorkloadStore store = new WorkloadStore();
        store.replaceAll(Map.of("client-1", address(CLIENT), "server-1", address(SERVER)));
        telemetry.expire(store.current());
        telemetry.opened(outboundAs("a")).close(1, 1, "CONNECT", "connection refused");
        assertThat(names(registry)).containsAll(TCP);

        store.apply(Map.of(), List.of("server-1"));
        telemetry.expire(store.current());
        assertThat(names(registry)).as("its destination workload is gone").doesNotContainAnyElementsOf(TCP)
                .doesNotContain("istio_tcp_connections_failed");

        telemetry.opened(outboundAs("b")).close(0, 0, "-", null);
        now.addAndGet(WINDOW.toNanos());
        assertThat(names(registry)).as("idle for the window").doesNotContainAnyElementsOf(TCP);
    }
}
