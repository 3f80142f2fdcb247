package io.jmesh.telemetry.graph;

import io.jmesh.core.config.Durations;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

/**
 * {@code GET /graph?window=5m}: the service graph as JSON. {@code GET /graph/ui?window=5m}: a self-contained page
 * (inline JavaScript and SVG, nothing fetched from elsewhere) that draws it, with the graph at load time embedded
 * so that it renders without a round trip, then refreshes it every 5 s.
 */
public final class GraphRoutes {

    static final Duration DEFAULT_WINDOW = Duration.ofMinutes(5);
    private static final String PLACEHOLDER = "/*GRAPH_DATA*/null";
    private static final String NONCE = "/*NONCE*/";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ServiceGraph graph;
    private final Clock clock;
    private final String page;
    private final Counter rejected;

    public GraphRoutes(ServiceGraph graph, Clock clock, PrometheusRegistry registry) {
        this.graph = graph;
        this.clock = clock;
        this.page = resource("graph-ui.html");
        this.rejected = Counter.builder().name("telemetry_graph_queries_rejected_total")
                .help("Service graph queries answered 400, by reason").labelNames("reason").register(registry);
        for (String reason : List.of("query", "repeated", "unparsable", "out_of_range")) {
            rejected.initLabelValues(reason);
        }
    }

    public Handler<HttpServerRequest> json() {
        return req -> {
            Duration window = window(req);
            if (window == null) {
                return;
            }
            req.response().putHeader("content-type", "application/json")
                    .end(graph.query(window, clock.millis()).toJson().encode());
        };
    }

    public Handler<HttpServerRequest> ui() {
        return req -> {
            Duration window = window(req);
            if (window == null) {
                return;
            }
            String data = scriptSafe(graph.query(window, clock.millis()).toJson().encode());
            // only the script carrying this response's nonce runs: were a name from an event ever to get
            // into the page as markup, a script it brought would be refused
            String nonce = nonce();
            req.response().putHeader("content-type", "text/html; charset=utf-8")
                    .putHeader("content-security-policy", "default-src 'none'; script-src 'nonce-" + nonce + "'; "
                            + "style-src 'unsafe-inline'; connect-src 'self'")
                    .end(page.replace(NONCE, nonce).replace(PLACEHOLDER, data));
        };
    }

    /** The {@code window} parameter, or null after answering 400 naming what is wrong. */
    private Duration window(HttpServerRequest req) {
        List<String> all;
        try {
            all = req.params().getAll("window");
        } catch (IllegalArgumentException e) {
            // Vert.x decodes the query lazily and throws on a malformed one (a stray or bad %-escape)
            return reject(req, "query", "query: " + req.query() + " (expected: valid percent-encoding; "
                    + e.getMessage() + ")");
        }
        if (all.size() > 1) {
            return reject(req, "repeated", "window: given " + all.size() + " times (expected: at most once)");
        }
        String w = all.isEmpty() ? null : all.get(0);
        if (w == null || w.isBlank()) {
            return DEFAULT_WINDOW.compareTo(graph.retention()) <= 0 ? DEFAULT_WINDOW : graph.retention();
        }
        Duration d;
        try {
            d = Durations.parse(w);
        } catch (IllegalArgumentException e) {
            return reject(req, "unparsable", "window: " + w + " (expected: a duration such as 30s, 5m, 1h)");
        }
        // the graph counts in milliseconds: a shorter window would be an empty one
        if (d.toMillis() < 1 || d.compareTo(graph.retention()) > 0) {
            return reject(req, "out_of_range", "window: " + w + " (expected: >= 1ms and <= "
                    + Durations.format(graph.retention()) + ", the graph retention)");
        }
        return d;
    }

    private Duration reject(HttpServerRequest req, String reason, String message) {
        rejected.labelValues(reason).inc();
        req.response().setStatusCode(400).putHeader("content-type", "text/plain").end(message + "\n");
        return null;
    }

    /** 128 random bits, base64: a CSP nonce (CSP 3 asks for at least 128 bits, new for every response). */
    private static String nonce() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return Base64.getEncoder().encodeToString(b);
    }

    /** JSON embedded in a script element cannot close it or open a comment. */
    static String scriptSafe(String json) {
        return json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029");
    }

    private static String resource(String name) {
        try (InputStream in = GraphRoutes.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
