package io.jmesh.telemetry.dashboards;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.prometheus.Dashboards;
import io.jmesh.testing.prometheus.Dashboards.PanelQuery;
import io.jmesh.testing.prometheus.PrometheusServer;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Prometheus (Debian {@code prometheus}; skipped, saying so, when absent) scrapes a running telemetry
 * service after events flowed through Kafka; every query of every dashboard panel in
 * {@code charts/jmesh/dashboards/} whose metrics that service produces must return data.
 *
 * <p>Panels on metrics of services not running here (ztunnel's, the control plane's) are listed on stdout as
 * not evaluated; tools/local-mesh's MeshDashboardsIT evaluates every panel against the whole local mesh.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class DashboardPrometheusTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Path DASHBOARDS = Path.of("../../charts/jmesh/dashboards");
    private static final List<String> OWN_DASHBOARDS = List.of("jmesh-mesh.json", "jmesh-workload.json");

    @TempDir
    Path tmp;

    @Test
    void everyPanelOnProducedMetricsReturnsDataFromARealPrometheus() throws Exception {
        assumeTrue(PrometheusServer.unavailableReason() == null, PrometheusServer.unavailableReason());
        List<PanelQuery> queries = Dashboards.panelQueries(DASHBOARDS);
        assertThat(queries).hasSizeGreaterThan(30);

        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("dash"), "a");
        // OTLP to a closed port: exports are attempted and counted as failed, so that panel has data too
        int closedPort = freePort();
        try (TelemetryInstance t = TelemetryInstance.start(cfg, c -> new TelemetryConfig(c.logLevel(),
                c.drainDeadline(), c.admin(), c.kafka(), c.seriesTtl(), c.openSeriesTtl(), c.graph(),
                new TelemetryConfig.OtlpConfig("127.0.0.1:" + closedPort, Duration.ofSeconds(1), Duration.ofSeconds(1), "")),
                Clock.systemUTC()); EventProducer p = new EventProducer(kafka);
                PrometheusServer prom = PrometheusServer.start(
                        Map.of("telemetry", List.of("127.0.0.1:" + t.adminPort())), tmp)) {
            await().atMost(Duration.ofSeconds(60)).until(prom::ready);
            // two rounds of traffic a few scrapes apart, so that rate() sees counters move
            produceTraffic(p, cfg);
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 16);
            await().atMost(Duration.ofSeconds(60)).until(() -> !prom.query("istio_requests_total").isEmpty());
            produceTraffic(p, cfg);
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 32);
            await().atMost(Duration.ofSeconds(60)).until(() ->
                    prom.query("sum(istio_requests_total)").getJsonObject(0).getJsonArray("value").getString(1).equals("20"));

            Set<String> known = prom.metricNames();
            List<PanelQuery> evaluated = new ArrayList<>();
            List<PanelQuery> notEvaluated = new ArrayList<>();
            for (PanelQuery q : queries) {
                (known.containsAll(q.metrics()) && resolvable(q, prom) ? evaluated : notEvaluated).add(q);
            }
            for (PanelQuery q : evaluated) {
                await().alias(q.toString()).atMost(Duration.ofSeconds(30))
                        .until(() -> !prom.query(q.evaluable(prom)).isEmpty());
            }
            notEvaluated.forEach(q -> System.out.println("not evaluated here (the whole mesh's MeshDashboardsIT does): "
                    + q + " uses " + q.metrics()));
            assertThat(notEvaluated).as("the mesh and workload dashboards only use telemetry's metrics")
                    .noneMatch(q -> OWN_DASHBOARDS.contains(q.dashboard()));
            assertThat(evaluated).hasSizeGreaterThan(30);
        }
    }

    /** Whether the panel's variables find values here (ztunnel's $node does not without ztunnels). */
    private static boolean resolvable(PanelQuery q, PrometheusServer prom) throws IOException {
        try {
            q.evaluable(prom);
            return true;
        } catch (Dashboards.NoValues e) {
            return false;
        }
    }

    private static void produceTraffic(EventProducer p, IngestConfig cfg) {
        String key = "Kubernetes//Pod/default/productpage-v1-abc12";
        for (Reporter r : List.of(Reporter.SOURCE, Reporter.DESTINATION)) {
            p.send(cfg.connectionTopic(), key, Events.opened(r, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"));
            p.send(cfg.connectionTopic(), key, Events.closed(r, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 5000, 700));
        }
        p.send(cfg.connectionTopic(), key, Events.connection(ConnectionEvent.Kind.CLOSED, Reporter.SOURCE,
                Events.PRODUCTPAGE, Events.RATINGS, "ratings").setResponseFlags("CONNECT")
                .setSecurityPolicy(SecurityPolicy.NONE).build());
        p.send(cfg.connectionTopic(), key, Events.connection(ConnectionEvent.Kind.OPENED, Reporter.SOURCE,
                Events.PRODUCTPAGE, Events.RATINGS, "ratings").setSecurityPolicy(SecurityPolicy.NONE).build());
        for (int code : new int[] {200, 200, 200, 404, 503}) {
            p.send(cfg.requestTopic(), key, Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", code, code == 503 ? 250 : 12));
        }
        for (int code : new int[] {200, 200, 503}) {
            p.send(cfg.requestTopic(), key, Events.request(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", code, 15));
        }
        p.send(cfg.requestTopic(), key, Events.request(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.RATINGS,
                "ratings", 200, 3).toBuilder().setProtocol(RequestEvent.Protocol.GRPC).setGrpcStatus(0).build());
        p.send(cfg.requestTopic(), key, Events.request(Reporter.DESTINATION, Events.REVIEWS, Events.RATINGS,
                "ratings", 200, 3));
        p.send(cfg.requestTopic(), key, new byte[] {(byte) 0xff, (byte) 0xff}); // dead-lettered
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
