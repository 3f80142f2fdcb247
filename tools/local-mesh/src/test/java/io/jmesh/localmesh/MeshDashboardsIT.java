package io.jmesh.localmesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.localmesh.run.Layout;
import io.jmesh.testing.prometheus.Dashboards;
import io.jmesh.testing.prometheus.Dashboards.PanelQuery;
import io.jmesh.testing.prometheus.ExpositionCheck;
import io.jmesh.testing.prometheus.PrometheusServer;
import io.jmesh.testing.prometheus.PrometheusServer.ScrapeProtocol;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
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
 * two. *
 * <p>On the same mesh, every component's {@code /metrics} is checked as an exposition: by {@code promtool check
 * metrics} and for split families or repeated series (a counter family written twice, on every service, went
 * unnoticed by Prometheus, which takes such text), and by two Prometheus servers' own counts of their scrapes, one
 * scraping OpenMetrics (what Prometheus asks for) and one text 0.0.4.
 */
class MeshDashboardsIT {

    /** Metrics of features `make run` leaves off: no OTLP collector runs locally. */
    private static final Set<String> NOT_CONFIGURED = Set.of("telemetry_otlp_exports_total");

    /** Every component's admin endpoint, by job. */
    private static final Map<String, List<String>> TARGETS = new LinkedHashMap<>();

    static {
        TARGETS.put("ca", List.of(Layout.CA + ":" + Layout.ADMIN_PORT));
        TARGETS.put("policy", List.of(Layout.POLICY + ":" + Layout.ADMIN_PORT));
        TARGETS.put("telemetry", List.of(Layout.TELEMETRY + ":" + Layout.ADMIN_PORT));
        TARGETS.put("waypoint-mgr", List.of(Layout.WAYPOINT_MGR + ":" + Layout.ADMIN_PORT));
        TARGETS.put("ztunnel", List.of(Layout.NODE_A.address() + ":15020", Layout.NODE_B.address() + ":15020"));
    }

    @TempDir
    static Path state;

    @TempDir
    static Path prometheusDir;

    @TempDir
    static Path textPrometheusDir;

    /** One mesh for every check here: starting it is most of this IT's time. */
    private static LocalMeshProcess mesh;
    /** Scrapes as Prometheus does by itself: OpenMetrics. */
    private static PrometheusServer prom;
    /** Scrapes the same targets in Prometheus text 0.0.4. */
    private static PrometheusServer textProm;

    @BeforeAll
    static void startMeshAndPrometheus() throws Exception {
        assumeTrue(PrometheusServer.unavailableReason() == null, PrometheusServer.unavailableReason());
        mesh = LocalMeshProcess.start(state, false);
        prom = PrometheusServer.start(TARGETS, prometheusDir, ScrapeProtocol.OPEN_METRICS);
        textProm = PrometheusServer.start(TARGETS, textPrometheusDir, ScrapeProtocol.PROMETHEUS_TEXT);
        for (PrometheusServer p : List.of(prom, textProm)) {
            await().atMost(Duration.ofSeconds(60)).until(p::ready);
            await().atMost(Duration.ofSeconds(60)).alias("every component scraped")
                    .until(() -> p.targetHealth().values().stream().allMatch(h -> h.startsWith("up")));
        }
    }

    @AfterAll
    static void stop() throws Exception {
        for (PrometheusServer p : new PrometheusServer[] {prom, textProm}) {
            if (p != null) {
                p.close();
                if (!p.log().isBlank()) {
                    System.out.println("prometheus log:\n" + p.log());
                }
            }
        }
        if (mesh != null) {
            mesh.close();
        }
    }

    @Test
    void everyPanelOfEveryDashboardHasDataFromTheRunningMesh() throws Exception {
        List<PanelQuery> all = Dashboards.panelQueries(LocalMeshProcess.REPO.resolve("charts/jmesh/dashboards"));
        List<PanelQuery> queries = all.stream().filter(q -> q.metrics().stream().noneMatch(MeshDashboardsIT::l7)).toList();
        all.stream().filter(q -> !queries.contains(q)).forEach(q ->
                System.out.println("L7 panel, needs a waypoint (evaluated by telemetry's DashboardPrometheusTest): " + q));
        assertThat(queries).hasSizeGreaterThan(45);

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
    }

    /**
     * Every component's {@code /metrics}, after traffic (so that the per-connection families have series), is a
     * valid Prometheus text 0.0.4 exposition by {@code promtool check metrics}, without one lint warning; and in
     * OpenMetrics each family's samples are together and no series is written twice.
     */
    @Test
    void everyComponentsMetricsAreAValidExposition() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        traffic();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        Map<String, List<String>> problems = new TreeMap<>();
        for (String target : TARGETS.values().stream().flatMap(List::stream).toList()) {
            URI uri = URI.create("http://" + target + "/metrics");
            String text = http.send(HttpRequest.newBuilder(uri).header("accept", "text/plain; version=0.0.4")
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(text).as(target).contains("# TYPE process_cpu_seconds_total counter");
            // no lint warning is allowed: every name, Istio's included, passes promtool's lint as it is
            List<String> found = new ArrayList<>(ExpositionCheck.problems(text, Set.of()));
            String openMetrics = http.send(HttpRequest.newBuilder(uri).header("accept", PROMETHEUS_2_42_ACCEPT)
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(openMetrics).as(target).endsWith("# EOF\n");
            ExpositionCheck.structureProblems(openMetrics).forEach(p -> found.add("OpenMetrics: " + p));
            if (!found.isEmpty()) {
                // one repeated family repeats every series of it: the first few problems say what is wrong
                problems.put(target, found.size() <= 10 ? found : new ArrayList<>(found.subList(0, 10)));
                problems.get(target).add("(" + found.size() + " problems in all)");
            }
        }
        assertThat(problems).as("invalid expositions, by target").isEmpty();
    }

    /**
     * Prometheus' own view of its scrapes, in OpenMetrics and in text 0.0.4: every target up, with samples, and not
     * one sample it had to drop as a duplicate, out of order or out of bounds.
     */
    @Test
    void prometheusScrapesEveryTargetCleanlyInBothFormats() throws Exception {
        traffic();
        long trafficDone = System.currentTimeMillis() / 1000;
        for (PrometheusServer p : List.of(prom, textProm)) {
            String which = p == prom ? "OpenMetrics" : "text 0.0.4";
            // a few scrapes of every target after the traffic: each is scraped every second
            await().atMost(Duration.ofSeconds(60)).alias(which + ": every target scraped 3 s after the traffic")
                    .until(() -> p.query("up").size() == targetCount()
                            && p.query("timestamp(up) < " + (trafficDone + 3)).isEmpty());
            assertThat(p.query("up != 1")).as(which + ": targets down: %s", p.targetHealth()).isEmpty();
            assertThat(p.query("scrape_samples_post_metric_relabeling > 0")).as(which + ": targets with samples")
                    .hasSize(targetCount());
            // Prometheus stores a sample repeated in one scrape (same series, same value) once and counts nothing:
            // every sample it parsed from a target must be a series of its own. Both figures come from the same
            // scrape once no scrape is half-committed, hence the bounded wait.
            String repeated = "(scrape_samples_scraped - on (job, instance) count by (job, instance) "
                    + "({job=~\".+\", __name__!~\"up|scrape_.+\"})) != 0";
            await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> assertThat(p.query(repeated))
                    .as(which + ": samples parsed beyond the series stored, by target (" + repeated + ")").isEmpty());
            for (String dropped : List.of("prometheus_target_scrapes_sample_duplicate_timestamp_total",
                    "prometheus_target_scrapes_sample_out_of_order_total",
                    "prometheus_target_scrapes_sample_out_of_bounds_total",
                    "prometheus_target_scrapes_exemplar_out_of_order_total")) {
                assertThat(p.ownMetric(dropped)).as(which + ": " + dropped + "; log:\n" + p.log()).isZero();
            }
        }
        assertThat(textProm.relayedContentTypes()).as("what the text 0.0.4 scrapes were answered in")
                .isNotEmpty().allSatisfy((type, n) -> assertThat(type).startsWith("text/plain; version=0.0.4"));
    }

    /** What Prometheus 2.42 (Debian's) asks a target for: OpenMetrics first. */
    private static final String PROMETHEUS_2_42_ACCEPT = "application/openmetrics-text;version=1.0.0,"
            + "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    private static int targetCount() {
        return TARGETS.values().stream().mapToInt(List::size).sum();
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
