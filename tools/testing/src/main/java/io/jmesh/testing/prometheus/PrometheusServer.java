package io.jmesh.testing.prometheus;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * A real Prometheus (the Debian {@code prometheus} package) started by a test: scrapes the given targets every
 * second, listens on a free loopback port, and answers instant queries. Stopped by {@link #close()}.
 */
public final class PrometheusServer implements AutoCloseable {

    public static final Path BINARY = Path.of("/usr/bin/prometheus");

    /** The exposition format the targets are scraped in. */
    public enum ScrapeProtocol {
        /** What Prometheus 2.42 asks for first: OpenMetrics 1.0 text. */
        OPEN_METRICS,
        /** Prometheus text 0.0.4, asked for by a proxy ({@link TextFormatProxy}): 2.42 cannot be told to. */
        PROMETHEUS_TEXT
    }

    private final Process process;
    private final String base;
    private final Path log;
    private final TextFormatProxy proxy;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private PrometheusServer(Process process, String base, Path log, TextFormatProxy proxy) {
        this.process = process;
        this.base = base;
        this.log = log;
        this.proxy = proxy;
    }

    /** Why Prometheus cannot run here, or null when it can. */
    public static String unavailableReason() {
        return Files.isExecutable(BINARY) ? null
                : "prometheus is not installed (apt-get install -y prometheus): dashboard queries not evaluated";
    }

    /**
     * Starts Prometheus scraping {@code /metrics} of every target, one job per map key.
     *
     * @param targets job name → {@code host:port} targets
     * @param workDir where its configuration, data and log go
     */
    public static PrometheusServer start(Map<String, List<String>> targets, Path workDir) throws IOException {
        return start(targets, workDir, ScrapeProtocol.OPEN_METRICS);
    }

    /** Starts Prometheus scraping {@code /metrics} of every target in {@code protocol}, one job per map key. */
    public static PrometheusServer start(Map<String, List<String>> targets, Path workDir, ScrapeProtocol protocol)
            throws IOException {
        int port = freePort();
        TextFormatProxy proxy = protocol == ScrapeProtocol.PROMETHEUS_TEXT ? TextFormatProxy.start() : null;
        String proxyUrl = proxy == null ? "" : "    proxy_url: " + proxy.url() + "\n";
        String jobs = targets.entrySet().stream().map(e -> """
                  - job_name: %s
                    metrics_path: /metrics
                %s    static_configs:
                      - targets: [%s]
                """.formatted(e.getKey(), proxyUrl, e.getValue().stream().map(t -> "'" + t + "'")
                .collect(Collectors.joining(", ")))).collect(Collectors.joining());
        Path config = workDir.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                """ + jobs);
        Path log = workDir.resolve("prometheus.log");
        Process p = new ProcessBuilder(BINARY.toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + workDir.resolve("prometheus-data"), "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new PrometheusServer(p, "http://127.0.0.1:" + port, log, proxy);
    }

    /** {@code http://127.0.0.1:<port>}. */
    public String baseUrl() {
        return base;
    }

    /** Whether {@code /-/ready} answers 200. */
    public boolean ready() {
        try {
            return get("/-/ready").statusCode() == 200;
        } catch (IOException e) {
            return false;
        }
    }

    /** The result vector of an instant query; fails when Prometheus rejects the query. */
    public JsonArray query(String expr) throws IOException {
        HttpResponse<String> r = get("/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8));
        JsonObject body = new JsonObject(r.body());
        if (!"success".equals(body.getString("status"))) {
            throw new IllegalStateException("query " + expr + " failed: " + r.body());
        }
        return body.getJsonObject("data").getJsonArray("result");
    }

    /** Every metric name Prometheus holds series for. */
    public Set<String> metricNames() throws IOException {
        Set<String> names = new LinkedHashSet<>();
        new JsonObject(get("/api/v1/label/__name__/values").body()).getJsonArray("data")
                .forEach(n -> names.add((String) n));
        return names;
    }

    /** The values of {@code label} on series matching {@code selector} (all series when null), sorted. */
    public List<String> labelValues(String label, String selector) throws IOException {
        String path = "/api/v1/label/" + label + "/values"
                + (selector == null ? "" : "?match[]=" + URLEncoder.encode(selector, StandardCharsets.UTF_8));
        HttpResponse<String> r = get(path);
        JsonObject body = new JsonObject(r.body());
        if (!"success".equals(body.getString("status"))) {
            throw new IllegalStateException("label values of " + label + " for " + selector + ": " + r.body());
        }
        return body.getJsonArray("data").stream().map(String::valueOf).sorted().toList();
    }

    /**
     * Metric names some scraped target declares (# HELP/# TYPE), with or without series: a panel on a name
     * missing here has a typo or reads a metric no component exports.
     */
    public Set<String> declaredMetrics() throws IOException {
        JsonObject data = new JsonObject(get("/api/v1/metadata").body()).getJsonObject("data");
        Set<String> names = new LinkedHashSet<>(data.fieldNames());
        // histograms and counters are declared by family; series carry suffixes
        Set<String> out = new LinkedHashSet<>(names);
        for (String n : names) {
            for (String suffix : List.of("_total", "_bucket", "_sum", "_count", "_created")) {
                out.add(n + suffix);
            }
        }
        return out;
    }

    /** The scrape health of every target: {@code job/instance → up|down (last error)}. */
    public Map<String, String> targetHealth() throws IOException {
        JsonArray active = new JsonObject(get("/api/v1/targets").body()).getJsonObject("data")
                .getJsonArray("activeTargets");
        return active.stream().map(o -> (JsonObject) o).collect(Collectors.toMap(
                t -> t.getJsonObject("labels").getString("job") + "/" + t.getJsonObject("labels").getString("instance"),
                t -> t.getString("health") + (t.getString("lastError", "").isEmpty() ? "" : " (" + t.getString("lastError") + ")"),
                (a, b) -> a, java.util.TreeMap::new));
    }

    /**
     * A counter or gauge of Prometheus' own {@code /metrics} (such as
     * {@code prometheus_target_scrapes_sample_duplicate_timestamp_total}); fails when it does not export it.
     */
    public double ownMetric(String name) throws IOException {
        String text = get("/metrics").body();
        return text.lines().filter(l -> l.startsWith(name + " ")).findFirst()
                .map(l -> Double.parseDouble(l.substring(name.length() + 1).strip()))
                .orElseThrow(() -> new IllegalStateException("prometheus exports no " + name));
    }

    /**
     * With {@link ScrapeProtocol#PROMETHEUS_TEXT}: how many scrapes were answered in each content type; empty
     * otherwise.
     */
    public Map<String, Long> relayedContentTypes() {
        return proxy == null ? Map.of() : proxy.relayedContentTypes();
    }

    /** Prometheus's own log, for failure messages. */
    public String log() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private HttpResponse<String> get(String path) throws IOException {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public void close() {
        if (proxy != null) {
            proxy.close();
        }
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
