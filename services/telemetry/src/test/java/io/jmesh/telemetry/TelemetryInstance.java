package io.jmesh.telemetry;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.telemetry.TelemetryConfig.GraphConfig;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/** One telemetry replica running in the test JVM, with its own Vert.x, on an ephemeral admin port. */
public final class TelemetryInstance implements AutoCloseable {

    private final ServiceLauncher.Running<TelemetryConfig> running;
    private final TelemetryBootstrap service;
    // HTTP/1.1 as Prometheus scrapes; the JDK client's h2c upgrade against the admin server is not what is tested here
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private TelemetryInstance(ServiceLauncher.Running<TelemetryConfig> running) {
        this.running = running;
        this.service = (TelemetryBootstrap) running.service();
    }

    /** Topics for one test, all under {@code prefix}. */
    public static IngestConfig ingest(String bootstrap, String prefix, String instanceId) {
        return new IngestConfig(bootstrap, prefix + "-group", instanceId, prefix + ".l4", prefix + ".l7",
                prefix + ".dlq", prefix + ".checkpoints", Duration.ofMillis(200), true, 4, 0);
    }

    public static TelemetryConfig config(IngestConfig ingest) {
        return new TelemetryConfig("info", Duration.ofSeconds(5), new AdminConfig("127.0.0.1", 0), ingest,
                Duration.ofHours(1), Duration.ofDays(7), new GraphConfig(Duration.ofSeconds(1), Duration.ofMinutes(10)),
                new OtlpConfig("", Duration.ofSeconds(30), Duration.ofSeconds(5), ""));
    }

    public static TelemetryInstance start(TelemetryConfig config, Clock clock) throws Exception {
        Vertx vertx = Vertx.vertx();
        ServiceLauncher.Running<TelemetryConfig> r = ServiceLauncher.start(config, vertx,
                        (c, ctx) -> new TelemetryBootstrap(c, ctx, clock))
                .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        TelemetryInstance t = new TelemetryInstance(r);
        if (t.service.ingestor() != null) { // topics exist and the group is joined: producing cannot auto-create them
            t.service.ingestor().ready().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
        return t;
    }

    public static TelemetryInstance start(IngestConfig ingest) throws Exception {
        return start(config(ingest), Clock.systemUTC());
    }

    public static TelemetryInstance start(IngestConfig ingest, UnaryOperator<TelemetryConfig> tweak, Clock clock)
            throws Exception {
        return start(tweak.apply(config(ingest)), clock);
    }

    public TelemetryBootstrap service() {
        return service;
    }

    public MeshTotals totals() {
        return service.totals();
    }

    /** The total of events counted: connections opened + closed + requests. */
    public long counted() {
        MeshTotals t = totals();
        return t.connectionsOpened() + t.connectionsClosed() + t.requestCount();
    }

    public int adminPort() {
        return running.admin().port();
    }

    public String url(String path) {
        return "http://127.0.0.1:" + adminPort() + path;
    }

    public HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** One sample of this replica's registry, without a scrape of every Istio series; 0 when absent. */
    public double sample(String name, String... labelNamesAndValues) {
        var labels = io.prometheus.metrics.model.snapshots.Labels.of(labelNamesAndValues);
        for (var m : running.context().metrics().scrape(n -> n.equals(name) || n.equals(name.replaceFirst("_total$", "")))) {
            for (var d : m.getDataPoints()) {
                if (d.getLabels().equals(labels)) {
                    return d instanceof io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot c
                            ? c.getValue() : Double.NaN;
                }
            }
        }
        return 0;
    }

    public String scrape() throws IOException, InterruptedException {
        return get("/metrics").body();
    }

    @Override
    public void close() {
        running.shutdown(Duration.ofSeconds(20));
    }
}
