package io.jmesh.telemetry.otlp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.testing.net.BlackholeRelay;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The exporter's connection to the collector is PINGed: when the collector stops answering without closing it (a
 * relay blackholes it: a half-open connection), the connection is dropped and the next export goes over a new one,
 * instead of every export timing out on the dead connection until the kernel gives up.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OtlpKeepaliveTest {

    FakeMetricsCollector collector;
    BlackholeRelay relay;
    Vertx vertx;

    @BeforeEach
    void start() throws Exception {
        collector = FakeMetricsCollector.start(0);
        relay = BlackholeRelay.to("127.0.0.1", Integer.parseInt(collector.endpoint().split(":")[1]));
        vertx = Vertx.vertx();
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        relay.close();
        collector.close();
    }

    @Test
    void aBlackholedCollectorConnectionIsDroppedAndExportsGoOnOverANewOne() throws Exception {
        PartitionAggregate counted = new PartitionAggregate(0);
        counted.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"),
                System.currentTimeMillis());
        PrometheusRegistry metrics = new PrometheusRegistry();
        OtlpMetricsExporter exporter = OtlpMetricsExporter.start(vertx,
                new OtlpConfig("127.0.0.1:" + relay.port(), Duration.ofHours(1), Duration.ofSeconds(2), "", "",
                        Duration.ofMillis(300), Duration.ofSeconds(1)),
                () -> MeshTotals.of(List.of(counted)), java.time.Clock.systemUTC(), metrics);
        exporter.exportNow().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        int exported = collector.received().size();
        assertThat(exported).isPositive();
        assertThat(relay.accepted()).isEqualTo(1);

        relay.blackhole();
        await("an export through a new connection").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    exporter.exportNow().toCompletionStage().exceptionally(e -> null).toCompletableFuture()
                            .get(10, TimeUnit.SECONDS);
                    return collector.received().size() > exported;
                });
        assertThat(relay.accepted()).as("connections through the relay").isEqualTo(2);
        assertThat(keepaliveTimeouts(metrics)).isEqualTo(1);
        exporter.close();
    }

    @Test
    void istiosScheduleByDefaultAndNonPositiveValuesRefusedNamingTheKey() {
        OtlpConfig otlp = ConfigLoader.load(TelemetryConfig.class, "telemetry", null, Map.of()).config().otlp();
        assertThat(otlp.keepaliveInterval()).isEqualTo(Duration.ofMinutes(5));
        assertThat(otlp.keepaliveTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThatThrownBy(() -> ConfigLoader.load(TelemetryConfig.class, "telemetry", null,
                Map.of("MESH_OTLP_KEEPALIVE_TIMEOUT", "0s"))).hasMessageContaining("otlp.keepaliveTimeout: PT0S");
    }

    private static double keepaliveTimeouts(PrometheusRegistry metrics) {
        return metrics.scrape().stream()
                .filter(m -> m.getMetadata().getPrometheusName().equals("telemetry_grpc_keepalive_timeouts"))
                .flatMap(m -> m.getDataPoints().stream())
                .filter(d -> "otlp".equals(d.getLabels().get("peer")))
                .mapToDouble(d -> ((CounterSnapshot.CounterDataPointSnapshot) d).getValue()).sum();
    }
}
