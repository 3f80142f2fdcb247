package io.jmesh.localmesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.localmesh.run.Layout;
import io.jmesh.testing.prometheus.Dashboards;
import io.jmesh.testing.prometheus.Dashboards.PanelQuery;
import io.jmesh.testing.prometheus.PrometheusServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every panel of every dashboard the chart ships, against the whole local mesh: a real Prometheus (Debian
 * {@code prometheus}) scrapes every component's {@code /metrics} (ca, policy, telemetry, waypoint-mgr, both
 * ztunnels); after traffic has flowed (an allowed call across the nodes and a denied one), every metric a panel
 * reads is declared by some component and every panel query, with its dashboard variables resolved as Grafana
 * does for "All", returns data.
 *
 * <p>The exception is the HTTP panels ({@code istio_request*}): they need L7 request events, which only waypoints
 * report, and the local mesh runs none (as in Istio's ambient mode, ztunnel alone reports L4 only). telemetry's
 * DashboardPrometheusTest evaluates those from published request events, so every panel is covered by one of the
 * two.
 */
class MeshDashboardsIT {

    /** Metrics of features `make run` leaves off: no OTLP collector runs locally. */
    private static final Set<String> NOT_CONFIGURED = Set.of("telemetry_otlp_exports_total");

    @TempDir
    Path state;

    @TempDir
    Path prometheusDir;

    @Test
    void everyPanelOfEveryDashboardHasDataFromTheRunningMesh() throws Exception {
        assumeTrue(PrometheusServer.unavailableReason() == null, PrometheusServer.unavailableReason());
        List<PanelQuery> all = Dashboards.panelQueries(LocalMeshProcess.REPO.resolve("charts/jmesh/dashboards"));
        List<PanelQuery> queries = all.stream().filter(q -> q.metrics().stream().noneMatch(MeshDashboardsIT::l7)).toList();
        all.stream().filter(q -> !queries.contains(q)).forEach(q ->
                System.out.println("L7 panel, needs a waypoint (evaluated by telemetry's DashboardPrometheusTest): " + q));
        assertThat(queries).hasSizeGreaterThan(45);

        Map<String, List<String>> targets = new LinkedHashMap<>();
        targets.put("ca", List.of(Layout.CA + ":" + Layout.ADMIN_PORT));
        targets.put("policy", List.of(Layout.POLICY + ":" + Layout.ADMIN_PORT));
        targets.put("telemetry", List.of(Layout.TELEMETRY + ":" + Layout.ADMIN_PORT));
        targets.put("waypoint-mgr", List.of(Layout.WAYPOINT_MGR + ":" + Layout.ADMIN_PORT));
        targets.put("ztunnel", List.of(Layout.NODE_A.address() + ":15020", Layout.NODE_B.address() + ":15020"));

        try (LocalMeshProcess mesh = LocalMeshProcess.start(state, false);
                PrometheusServer prom = PrometheusServer.start(targets, prometheusDir)) {
            await().atMost(Duration.ofSeconds(60)).until(prom::ready);
            await().atMost(Duration.ofSeconds(60)).alias("every component scraped")
                    .until(() -> prom.targetHealth().values().stream().allMatch(h -> h.startsWith("up")));

            // two rounds of traffic some scrapes apart, so that rate() sees counters move
            traffic();
            await().atMost(Duration.ofSeconds(60)).alias("telemetry counted productpage's connections").until(() ->
                    !prom.query("istio_tcp_connections_opened_total{job=\"telemetry\", source_workload=\"productpage\"}")
                            .isEmpty());
            Thread.sleep(3_000);
            traffic();

            Set<String> declared = prom.declaredMetrics();
            Set<String> undeclared = new TreeSet<>();
            for (PanelQuery q : queries) {
                q.metrics().stream().filter(m -> !m.equals("up") && !declared.contains(m) && !NOT_CONFIGURED.contains(m))
                        .forEach(m -> undeclared.add(m + " (" + q.dashboard() + " / " + q.panel() + ")"));
            }
            assertThat(undeclared).as("metrics read by panels that no component exports").isEmpty();
            for (PanelQuery q : queries) {
                if (q.metrics().stream().anyMatch(NOT_CONFIGURED::contains)) {
                    System.out.println("not configured in make run (OtlpExportTest covers it): " + q);
                    continue;
                }
                await().alias(q.toString()).atMost(Duration.ofSeconds(60))
                        .until(() -> !prom.query(q.evaluable(prom)).isEmpty());
            }
            // no double counting: the ztunnel dashboard reads the ztunnels' own istio_tcp_* series, the mesh
            // dashboards telemetry's aggregates of the same names
            assertThat(prom.labelValues("instance", "ztunnel_pool_connections")).containsExactly(
                    Layout.NODE_A.address() + ":15020", Layout.NODE_B.address() + ":15020");
            assertThat(prom.labelValues("instance", "telemetry_partitions_owned")).containsExactly(
                    Layout.TELEMETRY + ":" + Layout.ADMIN_PORT);
        } finally {
            Path log = prometheusDir.resolve("prometheus.log");
            if (Files.exists(log) && Files.size(log) > 0) {
                System.out.println("prometheus log:\n" + Files.readString(log));
            }
        }
    }

    private static boolean l7(String metric) {
        return metric.startsWith("istio_request") || metric.startsWith("istio_response");
    }

    /**
     * productpage → reviews across the nodes (allowed), sleep → reviews (denied), the demo page, and productpage's
     * DNS: the reviews Service (answered by node-a's ztunnel) and a name outside the mesh (forwarded upstream).
     */
    private static void traffic() throws Exception {
        String url = "http://" + Layout.REVIEWS_HOST + ":9080/reviews";
        String socks = Layout.NODE_A.address() + ":15080";
        for (int i = 0; i < 3; i++) {
            LocalMeshProcess.Result ok = LocalMeshProcess.curl("--interface", Layout.PRODUCTPAGE,
                    "--socks5-hostname", socks, url);
            assertThat(ok.exit()).as("productpage → reviews: %s", ok.output()).isZero();
        }
        LocalMeshProcess.Result denied = LocalMeshProcess.curl("--interface", Layout.SLEEP,
                "--socks5-hostname", socks, url);
        assertThat(denied.exit()).as("sleep → reviews must be denied: %s", denied.output()).isNotZero();
        HttpResponse<String> page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://" + Layout.PRODUCTPAGE + ":9080/productpage")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).as(page.body()).isEqualTo(200);
        try (java.net.DatagramSocket dns = new java.net.DatagramSocket(
                new java.net.InetSocketAddress(Layout.PRODUCTPAGE, 0))) {
            dns.setSoTimeout(10_000);
            for (String name : List.of(Layout.REVIEWS_HOST, "jmesh-dashboard-check.invalid")) {
                byte[] q = dnsQuery(name);
                dns.send(new java.net.DatagramPacket(q, q.length,
                        new java.net.InetSocketAddress(Layout.NODE_A.address(), 15053)));
                // an answer either way: the VIP, or upstream's (or, with no upstream reachable, SERVFAIL)
                dns.receive(new java.net.DatagramPacket(new byte[4096], 4096));
            }
        }
    }

    private static byte[] dnsQuery(String name) {
        java.io.ByteArrayOutputStream q = new java.io.ByteArrayOutputStream();
        q.writeBytes(new byte[] {0x4a, 0x4d, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            q.write(label.length());
            q.writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        q.writeBytes(new byte[] {0, 0, 1, 0, 1});
        return q.toByteArray();
    }
}
