package io.jmesh.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class AdminServerTest {

    private final HttpClient http = HttpClient.newHttpClient();
    private Vertx vertx;
    private AdminServer server;
    private final Readiness readiness = new Readiness();
    private final PrometheusRegistry registry = new PrometheusRegistry();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        server = AdminServer.builder(vertx).host("127.0.0.1").port(0)
                .readiness(readiness)
                .metrics(registry)
                .route("/boom", req -> {
                    throw new IllegalStateException("kaput");
                })
                .build().start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void readinessNamesPendingTasksUntilAllComplete() throws Exception {
        Readiness.Task certs = readiness.register("certificates");
        Readiness.Task config = readiness.register("config");
        assertThat(get("/healthz/ready").statusCode()).isEqualTo(503);
        assertThat(get("/healthz/ready").body()).contains("certificates").contains("config");
        certs.complete();
        assertThat(get("/healthz/ready").body()).doesNotContain("certificates").contains("config");
        config.complete();
        HttpResponse<String> ready = get("/healthz/ready");
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(ready.body()).isEqualTo("ready\n");
        config.reset();
        assertThat(get("/healthz/ready").statusCode()).isEqualTo(503);
    }

    @Test
    void metricsArePrometheusText() throws Exception {
        Counter c = Counter.builder().name("istio_tcp_connections_opened_total").help("opened")
                .labelNames("reporter").register(registry);
        c.labelValues("destination").inc(3);
        HttpResponse<String> res = get("/metrics");
        assertThat(res.statusCode()).isEqualTo(200);
        assertThat(res.headers().firstValue("content-type")).get().asString().startsWith("text/plain");
        assertThat(res.body()).contains("istio_tcp_connections_opened_total{reporter=\"destination\"} 3.0");
        assertThat(get("/stats/prometheus").body()).contains("istio_tcp_connections_opened_total");
    }

    @Test
    void unknownPathsAre404AndHandlerErrorsAre500() throws Exception {
        assertThat(get("/nope").statusCode()).isEqualTo(404);
        HttpResponse<String> boom = get("/boom");
        assertThat(boom.statusCode()).isEqualTo(500);
        assertThat(boom.body()).contains("kaput");
        // the server survives
        assertThat(get("/metrics").statusCode()).isEqualTo(200);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
