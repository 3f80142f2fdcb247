package io.jmesh.testing.prometheus;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An HTTP forward proxy (Prometheus' {@code proxy_url}) that asks every target for Prometheus text 0.0.4, whatever
 * the scraper's Accept header: Debian's Prometheus 2.42 has no {@code scrape_protocols} (2.49+) and always prefers
 * OpenMetrics, so this is how it scrapes the text format that older Prometheus servers and other scrapers
 * (Datadog, vmagent...) ask for. The targets keep their own addresses as {@code instance}.
 */
final class TextFormatProxy implements AutoCloseable {

    static final String ACCEPT = "text/plain;version=0.0.4";

    private final HttpServer server;
    private final ExecutorService threads = Executors.newFixedThreadPool(4);
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final ConcurrentHashMap<String, AtomicLong> contentTypes = new ConcurrentHashMap<>();

    private TextFormatProxy(HttpServer server) {
        this.server = server;
    }

    static TextFormatProxy start() throws IOException {
        TextFormatProxy proxy = new TextFormatProxy(
                HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16));
        proxy.server.createContext("/", proxy::relay);
        proxy.server.setExecutor(proxy.threads);
        proxy.server.start();
        return proxy;
    }

    /** {@code http://127.0.0.1:<port>}. */
    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** How many answers of each content type were relayed. */
    Map<String, Long> relayedContentTypes() {
        Map<String, Long> out = new TreeMap<>();
        contentTypes.forEach((type, n) -> out.put(type, n.get()));
        return out;
    }

    /** Prometheus sends the absolute URI of the target ({@code GET http://host:port/metrics}), as to any proxy. */
    private void relay(HttpExchange exchange) throws IOException {
        try (exchange) {
            HttpResponse<byte[]> r;
            try {
                r = http.send(HttpRequest.newBuilder(exchange.getRequestURI()).header("accept", ACCEPT)
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofByteArray());
            } catch (IOException | InterruptedException e) {
                byte[] why = ("proxy: " + exchange.getRequestURI() + ": " + e + "\n").getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(502, why.length);
                exchange.getResponseBody().write(why);
                return;
            }
            String type = r.headers().firstValue("content-type").orElse("");
            contentTypes.computeIfAbsent(type, t -> new AtomicLong()).incrementAndGet();
            exchange.getResponseHeaders().set("content-type", type);
            exchange.sendResponseHeaders(r.statusCode(), r.body().length == 0 ? -1 : r.body().length);
            try (OutputStream body = exchange.getResponseBody()) {
                body.write(r.body());
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }
}
