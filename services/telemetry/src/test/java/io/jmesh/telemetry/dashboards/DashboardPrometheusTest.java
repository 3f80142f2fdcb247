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
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Prometheus (Debian {@code prometheus}; skipped, saying so, when absent) scrapes a running telemetry
 * service after events flowed through Kafka; every query of every dashboard panel in
 * {@code charts/jmesh/dashboards/} whose metrics that service produces must return data.
 *
 * <p>Panels on metrics of services not running here (ztunnel's {@code mesh_events_*}) are listed on stdout as
 * not evaluated.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class DashboardPrometheusTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Path DASHBOARDS = Path.of("../../charts/jmesh/dashboards");
    private static final Pattern METRIC = Pattern.compile("\\b(istio_[a-z_]+|telemetry_[a-z_]+|mesh_[a-z_]+|jvm_[a-z_]+|process_[a-z_]+|up)\\b");
    private static final List<String> OWN_DASHBOARDS = List.of("jmesh-mesh.json", "jmesh-workload.json");

    @TempDir
    Path tmp;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    record PanelQuery(String dashboard, String panel, String expr) {}

    @Test
    void everyPanelOnProducedMetricsReturnsDataFromARealPrometheus() throws Exception {
        Path prometheus = Path.of("/usr/bin/prometheus");
        assumeTrue(Files.isExecutable(prometheus),
                "prometheus is not installed (apt-get install -y prometheus): dashboard queries not evaluated");
        List<PanelQuery> queries = panelQueries();
        assertThat(queries).hasSizeGreaterThan(30);

        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("dash"), "a");
        // OTLP to a closed port: exports are attempted and counted as failed, so that panel has data too
        int closedPort = freePort();
        try (TelemetryInstance t = TelemetryInstance.start(cfg, c -> new TelemetryConfig(c.logLevel(),
                c.drainDeadline(), c.admin(), c.kafka(), c.seriesTtl(), c.graph(),
                new TelemetryConfig.OtlpConfig("127.0.0.1:" + closedPort, Duration.ofSeconds(1), Duration.ofSeconds(1), "")),
                Clock.systemUTC()); EventProducer p = new EventProducer(kafka)) {
            int port = freePort();
            Process prom = startPrometheus(prometheus, port, t.adminPort());
            try {
                String base = "http://127.0.0.1:" + port;
                await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                        .until(() -> get(base + "/-/ready").statusCode() == 200);
                // two rounds of traffic a few scrapes apart, so that rate() sees counters move
                produceTraffic(p, cfg);
                await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 16);
                await().atMost(Duration.ofSeconds(60)).until(() -> !query(base, "istio_requests_total").isEmpty());
                produceTraffic(p, cfg);
                await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 32);
                await().atMost(Duration.ofSeconds(60)).until(() ->
                        query(base, "sum(istio_requests_total)").getJsonObject(0).getJsonArray("value").getString(1).equals("20"));

                Set<String> known = new LinkedHashSet<>();
                get(base + "/api/v1/label/__name__/values").body().lines().findFirst().ifPresent(body ->
                        new JsonObject(body).getJsonArray("data").forEach(n -> known.add((String) n)));
                List<PanelQuery> evaluated = new ArrayList<>();
                List<PanelQuery> notEvaluated = new ArrayList<>();
                for (PanelQuery q : queries) {
                    (known.containsAll(metrics(q.expr())) ? evaluated : notEvaluated).add(q);
                }
                for (PanelQuery q : evaluated) {
                    String expr = substitute(q.expr());
                    await().alias(q.dashboard() + " / " + q.panel() + ": " + expr).atMost(Duration.ofSeconds(30))
                            .until(() -> !query(base, expr).isEmpty());
                }
                notEvaluated.forEach(q -> System.out.println("not evaluated (metrics of services not running here): "
                        + q.dashboard() + " / " + q.panel() + " uses " + metrics(q.expr())));
                assertThat(notEvaluated).as("the mesh and workload dashboards only use telemetry's metrics")
                        .noneMatch(q -> OWN_DASHBOARDS.contains(q.dashboard()));
                assertThat(evaluated).hasSizeGreaterThan(30);
            } finally {
                prom.destroy();
                if (!prom.waitFor(20, TimeUnit.SECONDS)) {
                    prom.destroyForcibly();
                }
            }
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

    private Process startPrometheus(Path binary, int port, int target) throws IOException {
        Path config = tmp.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: telemetry
                    metrics_path: /metrics
                    static_configs:
                      - targets: ['127.0.0.1:%d']
                """.formatted(target));
        return new ProcessBuilder(binary.toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + tmp.resolve("data"), "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("prometheus.log").toFile()).start();
    }

    private JsonArray query(String base, String expr) throws IOException, InterruptedException {
        HttpResponse<String> r = get(base + "/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8));
        JsonObject body = new JsonObject(r.body());
        assertThat(body.getString("status")).as("%s: %s", expr, r.body()).isEqualTo("success");
        return body.getJsonObject("data").getJsonArray("result");
    }

    private HttpResponse<String> get(String url) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Every target of every panel of every dashboard (rows included, which hold none). */
    static List<PanelQuery> panelQueries() throws IOException {
        List<PanelQuery> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(DASHBOARDS)) {
            for (Path f : files.filter(x -> x.toString().endsWith(".json")).sorted().toList()) {
                JsonObject d = new JsonObject(Files.readString(f));
                assertThat(d.getString("uid")).as(f + " uid").isNotBlank();
                assertThat(d.getString("title")).as(f + " title").isNotBlank();
                Set<Integer> ids = new LinkedHashSet<>();
                for (Object o : d.getJsonArray("panels")) {
                    JsonObject panel = (JsonObject) o;
                    assertThat(ids.add(panel.getInteger("id"))).as(f + " panel ids are unique").isTrue();
                    assertThat(panel.getJsonObject("gridPos")).as(f + " " + panel.getString("title")).isNotNull();
                    JsonArray targets = panel.getJsonArray("targets", new JsonArray());
                    if (!"row".equals(panel.getString("type"))) {
                        assertThat(targets).as(f + " " + panel.getString("title") + " has queries").isNotEmpty();
                    }
                    for (Object t : targets) {
                        out.add(new PanelQuery(f.getFileName().toString(), panel.getString("title"),
                                ((JsonObject) t).getString("expr")));
                    }
                }
            }
        }
        return out;
    }

    /** Grafana variables as a dashboard shows them with "All" selected. */
    static String substitute(String expr) {
        return expr.replace("$__rate_interval", "1m").replaceAll("\\$[a-z_]+", ".*");
    }

    static Set<String> metrics(String expr) {
        Set<String> names = new LinkedHashSet<>();
        Matcher m = METRIC.matcher(expr);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
