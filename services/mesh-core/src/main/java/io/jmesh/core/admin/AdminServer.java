package io.jmesh.core.admin;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A small HTTP server for operational endpoints: readiness, Prometheus metrics, and whatever a service adds
 * (ztunnel's {@code /config_dump}). Exact-path routing; anything else is 404.
 *
 * <p>Metric exposition is produced on a worker thread and streamed at the scraper's pace ({@link MetricsEndpoint});
 * a service that wants isolation gives the admin server its own {@link Vertx} context (as ztunnel does to keep it
 * off the data path).
 */
public final class AdminServer {

    private final Vertx vertx;
    private final String host;
    private final int port;
    private final Map<String, Handler<HttpServerRequest>> routes;
    private volatile HttpServer server;

    private AdminServer(Builder b) {
        this.vertx = b.vertx;
        this.host = b.host;
        this.port = b.port;
        this.routes = Map.copyOf(b.routes);
    }

    public static Builder builder(Vertx vertx) {
        return new Builder(vertx);
    }

    /**
     * Options for a plain-HTTP endpoint (admin, metrics, readiness): HTTP/1.1 only. Prometheus and kubelet speak
     * HTTP/1.1; the h2c upgrade that Vert.x accepts by default, and the JDK's HttpClient attempts, has been seen to
     * stall a large /metrics response.
     */
    public static HttpServerOptions plainHttpOptions(String host, int port) {
        return new HttpServerOptions().setHost(host).setPort(port).setReuseAddress(true)
                .setHttp2ClearTextEnabled(false);
    }

    public Future<AdminServer> start() {
        return vertx.createHttpServer(plainHttpOptions(host, port))
                .requestHandler(this::handle)
                .listen()
                .map(s -> {
                    server = s;
                    return this;
                });
    }

    /** The bound port (useful when configured with 0). */
    public int port() {
        HttpServer s = server;
        return s == null ? -1 : s.actualPort();
    }

    public String host() {
        return host;
    }

    public Future<Void> close() {
        HttpServer s = server;
        return s == null ? Future.succeededFuture() : s.close();
    }

    private void handle(HttpServerRequest req) {
        Handler<HttpServerRequest> h = routes.get(req.path());
        if (h == null) {
            req.response().setStatusCode(404).putHeader("content-type", "text/plain").end("not found: "
                    + req.path() + "\n");
            return;
        }
        try {
            h.handle(req);
        } catch (RuntimeException e) {
            if (!req.response().ended()) {
                req.response().setStatusCode(500).putHeader("content-type", "text/plain")
                        .end("internal error: " + e.getMessage() + "\n");
            }
        }
    }

    /** Answers 200 {@code ready} or 503 naming the pending startup tasks. */
    public static Handler<HttpServerRequest> readinessHandler(Readiness readiness) {
        return req -> {
            if (readiness.isReady()) {
                req.response().putHeader("content-type", "text/plain").end("ready\n");
            } else {
                req.response().setStatusCode(503).putHeader("content-type", "text/plain")
                        .end("not ready: waiting for " + String.join(", ", readiness.pending()) + "\n");
            }
        };
    }

    public static final class Builder {
        private final Vertx vertx;
        private String host = "127.0.0.1";
        private int port;
        private final Map<String, Handler<HttpServerRequest>> routes = new LinkedHashMap<>();

        private Builder(Vertx vertx) {
            this.vertx = Objects.requireNonNull(vertx, "vertx");
        }

        public Builder host(String host) {
            this.host = Objects.requireNonNull(host, "host");
            return this;
        }

        public Builder port(int port) {
            this.port = io.jmesh.core.config.Ports.check("port", port);
            return this;
        }

        public Builder route(String path, Handler<HttpServerRequest> handler) {
            if (routes.putIfAbsent(path, Objects.requireNonNull(handler, "handler")) != null) {
                throw new IllegalArgumentException("route: " + path + " (expected: registered once)");
            }
            return this;
        }

        public Builder readiness(Readiness readiness) {
            return route("/healthz/ready", readinessHandler(readiness));
        }

        /** {@code /metrics} and Envoy's {@code /stats/prometheus}, with the default limit of concurrent scrapes. */
        public Builder metrics(PrometheusRegistry registry) {
            return metrics(registry, io.jmesh.core.config.AdminConfig.DEFAULT_MAX_CONCURRENT_SCRAPES);
        }

        /** {@code /metrics} and Envoy's {@code /stats/prometheus}: one endpoint, one limit of concurrent scrapes. */
        public Builder metrics(PrometheusRegistry registry, int maxConcurrentScrapes) {
            MetricsEndpoint endpoint = new MetricsEndpoint(vertx, registry, maxConcurrentScrapes);
            route("/metrics", endpoint);
            return route("/stats/prometheus", endpoint);
        }

        public AdminServer build() {
            return new AdminServer(this);
        }
    }
}
