package io.jmesh.telemetry.graph;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.admin.AdminServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code /graph} and {@code /graph/ui} over real HTTP: what a bad query answers. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GraphRoutesTest {

    private final Vertx vertx = Vertx.vertx();
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private AdminServer admin;

    @BeforeEach
    void start() throws Exception {
        ServiceGraph graph = new ServiceGraph(Duration.ofSeconds(10), Duration.ofHours(1));
        GraphRoutes routes = new GraphRoutes(graph,
                Clock.fixed(Instant.parse("2026-12-02T12:00:00Z"), ZoneOffset.UTC), registry);
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
