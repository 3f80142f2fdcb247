package io.jmesh.telemetry.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.core.admin.AdminServer;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /graph} and {@code /graph/ui} over real HTTP: what a bad query answers, the page's CSP, and names from
 * events drawn as text in a real headless Chromium.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GraphRoutesTest {

    private final Vertx vertx = Vertx.vertx();
    private static final Instant NOW = Instant.parse("2026-12-02T12:00:00Z");

    private final ServiceGraph graph = new ServiceGraph(Duration.ofSeconds(10), Duration.ofHours(1));
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private AdminServer admin;

    @BeforeEach
    void start() throws Exception {
        GraphRoutes routes = new GraphRoutes(graph, Clock.fixed(NOW, ZoneOffset.UTC), registry);
        admin = AdminServer.builder(vertx).port(0).route("/graph", routes.json()).route("/graph/ui", routes.ui())
                .build().start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aQueryThatIsNotValidPercentEncodingIsA400NamingIt() throws IOException {
        for (String path : new String[] {"/graph?window=%zz", "/graph/ui?window=5%"}) {
            String response = get(path);
            assertThat(response).as(path).startsWith("HTTP/1.1 400 ");
            assertThat(response).as(path).contains("query: window=");
        }
        assertThat(rejected("query")).isEqualTo(2);
    }

    @Test
    void aWindowThatCannotBeAnsweredAsAskedIsA400NamingIt() throws IOException {
        // two windows: which one was meant is a guess; under a millisecond: the graph counts in milliseconds
        for (String path : new String[] {"/graph?window=5m&window=1h", "/graph?window=PT0.0005S"}) {
            String response = get(path);
            assertThat(response).as(path).startsWith("HTTP/1.1 400 ");
            assertThat(response).as(path).contains("window");
        }
        assertThat(get("/graph?window=1ms")).startsWith("HTTP/1.1 200 ");
        assertThat(get("/graph?window=1h")).startsWith("HTTP/1.1 200 ");
        assertThat(get("/graph?window=61m")).startsWith("HTTP/1.1 400 ")
                .contains("window: 61m (expected: >= 1ms and <= 1h, the graph retention)");
        assertThat(rejected("repeated")).isEqualTo(1);
        assertThat(rejected("out_of_range")).isEqualTo(2);
    }

    @Test
    void thePageAllowsOnlyItsOwnScript() throws IOException {
        String first = get("/graph/ui");
        String second = get("/graph/ui");
        String csp = header(first, "content-security-policy");
        assertThat(csp).as("an inline script injected into the page must not run").doesNotContain("script-src 'unsafe-inline'")
                .contains("default-src 'none'");
        Matcher nonce = Pattern.compile("script-src 'nonce-([A-Za-z0-9+/=_-]{16,})'").matcher(csp);
        assertThat(nonce.find()).as(csp).isTrue();
        assertThat(first).contains("<script nonce=\"" + nonce.group(1) + "\">");
        assertThat(header(second, "content-security-policy")).as("a nonce per response").isNotEqualTo(csp);
    }

    @Test
    void workloadNamesFromEventsAreDrawnAsTextInChromium(@TempDir Path tmp) throws Exception {
        Path chromium = GraphUiChromiumTest.findChromium();
        assumeTrue(chromium != null, "chromium is not installed (apt-get install -y chromium): page not rendered");
        String evil = "x</script><script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";
        RequestEvent e = Events.request(Reporter.WAYPOINT, Events.workload(evil, "app", "v1"), Events.REVIEWS,
                "reviews", 200, 5);
        graph.onRequest(e, IstioLabels.of(e), NOW.toEpochMilli());
        graph.committed(NOW.toEpochMilli());

        Path profile = Files.createTempDirectory(tmp, "profile");
        Path out = tmp.resolve("dom.html");
        Process p = new ProcessBuilder(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile, "--dump-dom",
                "http://127.0.0.1:" + admin.port() + "/graph/ui?window=5m")
                .redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish within 90 s");
        }
        String dom = Files.readString(out, StandardCharsets.UTF_8);

        assertThat(dom).as("the page's own script ran").contains("3 nodes, 2 edges");
        assertThat(dom).contains("<title>jmesh service graph</title>").doesNotContain("pwned</title>")
                .doesNotContain("<img");
        assertThat(dom).contains("x&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;");
    }

    private static String header(String response, String name) {
        return response.lines().takeWhile(l -> !l.isEmpty())
                .filter(l -> l.toLowerCase(java.util.Locale.ROOT).startsWith(name + ":"))
                .map(l -> l.substring(name.length() + 1).trim()).findFirst().orElse("");
    }

    private double rejected(String reason) {
        CounterSnapshot c = (CounterSnapshot) registry.scrape().stream()
                .filter(m -> m.getMetadata().getName().equals("telemetry_graph_queries_rejected")).findFirst()
                .orElseThrow();
        return c.getDataPoints().stream().filter(d -> d.getLabels().get("reason").equals(reason)).findFirst()
                .orElseThrow().getValue();
    }

    /** A raw request: HTTP clients refuse to send a malformed query. */
    private String get(String path) throws IOException {
        try (Socket s = new Socket("127.0.0.1", admin.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
