package io.jmesh.core.kubernetes;

import io.jmesh.core.tls.Pem;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The few Kubernetes API calls the control plane makes (ca: TokenReview, reading a Pod, reading and writing Secrets
 * and ConfigMaps; policy: listing and watching what it registers), over the JDK's HTTP client. Authenticates with
 * this pod's ServiceAccount token, re-read on every call because projected tokens rotate, and trusts only the
 * cluster CA.
 *
 * <p>Blocking: call from signing threads or Vert.x workers, never from an event loop. Thread-safe.
 */
public final class KubernetesApi {

    /** One answer: the HTTP status and the JSON body (empty when there was none). */
    public record Response(int status, JsonObject body) {
        public boolean ok() {
            return status >= 200 && status < 300;
        }

        /** The API's own explanation ({@code Status.message}), or the status code. */
        public String reason() {
            String m = body.getString("message");
            return m != null && !m.isBlank() ? status + " " + m : "HTTP " + status;
        }
    }

    private final URI server;
    private final Path tokenFile;
    private final HttpClient http;
    private final Duration timeout;

    private KubernetesApi(URI server, Path tokenFile, HttpClient http, Duration timeout) {
        this.server = server;
        this.tokenFile = tokenFile;
        this.http = http;
        this.timeout = timeout;
    }

    /**
     * A client for {@code connection}: an explicit API server URL, or in-cluster from {@code KUBERNETES_SERVICE_HOST}
     * and {@code KUBERNETES_SERVICE_PORT}. {@code https} servers are verified against its CA file.
     */
    public static KubernetesApi create(KubernetesConnection connection) {
        URI server = connection.serverUri();
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(connection.requestTimeout())
                .version(HttpClient.Version.HTTP_1_1);
        if ("https".equals(server.getScheme())) {
            if (connection.effectiveCaFile().isEmpty()) {
                throw new IllegalArgumentException("kubernetes.caFile: empty for " + server
                        + " (expected: the API server's CA bundle)");
            }
            b.sslContext(clusterTrust(Path.of(connection.effectiveCaFile())));
        }
        String token = connection.effectiveTokenFile();
        return new KubernetesApi(server, token.isEmpty() ? null : Path.of(token),
                b.build(), connection.requestTimeout());
    }

    public URI server() {
        return server;
    }

    public Response get(String path) {
        return send(request(path).GET());
    }

    public Response post(String path, JsonObject body) {
        return send(request(path).POST(HttpRequest.BodyPublishers.ofString(body.encode()))
                .header("content-type", "application/json"));
    }

    public Response put(String path, JsonObject body) {
        return send(request(path).PUT(HttpRequest.BodyPublishers.ofString(body.encode()))
                .header("content-type", "application/json"));
    }

    /**
     * What a {@linkplain #watch watch} delivers, on the HTTP client's threads, one event at a time: the next is read
     * from the socket only when the stage {@link #onEvent} returned completes (backpressure to the API server).
     */
    public interface WatchListener {
        /** {@code type}: {@code ADDED}, {@code MODIFIED}, {@code DELETED}, {@code BOOKMARK} or {@code ERROR}. */
        CompletionStage<?> onEvent(String type, JsonObject object);

        /**
         * The stream ended: closed by the server or failed once open ({@code opened}), or refused or unreachable
         * before it opened. Called once, and nothing after.
         */
        void onClosed(String reason, boolean opened);
    }

    /** An open watch; {@link #close()} drops it without a further {@link WatchListener#onClosed}. */
    public interface Watch extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Watches the collection at {@code path} (e.g. {@code /api/v1/pods}) from {@code resourceVersion} over a
     * WebSocket, as the API server serves {@code ?watch=true} to WebSocket clients (one JSON event per text
     * message), with bookmarks. Non-blocking.
     */
    public Watch watch(String path, String resourceVersion, WatchListener listener) {
        String query = "watch=true&allowWatchBookmarks=true"
                + (resourceVersion == null || resourceVersion.isEmpty() ? ""
                        : "&resourceVersion=" + URLEncoder.encode(resourceVersion, StandardCharsets.UTF_8));
        URI target = server.resolve(path + (path.contains("?") ? "&" : "?") + query);
        URI uri = URI.create(("https".equals(target.getScheme()) ? "wss" : "ws") + target.toString()
                .substring(target.getScheme().length()));
        AtomicBoolean ended = new AtomicBoolean();
        AtomicBoolean opened = new AtomicBoolean();
        AtomicReference<WebSocket> socket = new AtomicReference<>();
        Consumer<String> end = reason -> {
            if (ended.compareAndSet(false, true)) {
                listener.onClosed(reason, opened.get());
            }
        };
        WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(timeout);
        String token;
        try {
            token = token();
        } catch (KubernetesException e) {
            end.accept(e.getMessage());
            return () -> { };
        }
        if (token != null) {
            b.header("authorization", "Bearer " + token);
        }
        // the API server's WebSocket handler (golang.org/x/net/websocket) refuses a handshake without an Origin
        b.header("origin", server.getScheme() + "://" + server.getHost()
                + (server.getPort() == -1 ? "" : ":" + server.getPort()));
        b.buildAsync(uri, new WebSocket.Listener() {
            private final StringBuilder message = new StringBuilder();
            private final java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();

            @Override
            public void onOpen(WebSocket ws) {
                opened.set(true);
                ws.request(1);
            }

            @Override
            public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                message.append(data);
                if (!last) {
                    ws.request(1);
                    return null;
                }
                String text = message.toString();
                message.setLength(0);
                JsonObject event;
                try {
                    event = new JsonObject(text);
                } catch (DecodeException e) {
                    ws.abort();
                    end.accept("watch " + path + ": an event that is not JSON: "
                            + text.substring(0, Math.min(200, text.length())));
                    return null;
                }
                JsonObject object = event.getJsonObject("object", new JsonObject());
                CompletionStage<?> done;
                try {
                    done = listener.onEvent(event.getString("type", ""), object);
                } catch (RuntimeException e) {
                    ws.abort();
                    end.accept("watch " + path + ": " + e);
                    return null;
                }
                (done == null ? CompletableFuture.completedFuture(null) : done).whenComplete((v, err) -> {
                    if (!ended.get()) {
                        ws.request(1);
                    }
                });
                return null;
            }

            @Override
            public CompletionStage<?> onBinary(WebSocket ws, java.nio.ByteBuffer data, boolean last) {
                // JSON in binary frames (an API server that does not frame JSON as text): the same events, decoded
                // once whole so a character split across frames stays whole
                byte[] chunk = new byte[data.remaining()];
                data.get(chunk);
                binary.write(chunk, 0, chunk.length);
                if (!last) {
                    ws.request(1);
                    return null;
                }
                String text = binary.toString(StandardCharsets.UTF_8);
                binary.reset();
                return onText(ws, text, true);
            }

            @Override
            public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
                end.accept("watch " + path + ": closed by the server (" + statusCode
                        + (reason == null || reason.isEmpty() ? "" : " " + reason) + ")");
                return null;
            }

            @Override
            public void onError(WebSocket ws, Throwable error) {
                end.accept("watch " + path + ": " + describe(error));
            }
        }).whenComplete((ws, err) -> {
            if (err != null) {
                end.accept("watch " + path + ": " + describe(err instanceof java.util.concurrent.CompletionException
                        && err.getCause() != null ? err.getCause() : err));
            } else {
                socket.set(ws);
                if (ended.get()) {
                    ws.abort();
                }
            }
        });
        return () -> {
            ended.set(true);
            WebSocket ws = socket.get();
            if (ws != null) {
                ws.abort();
            }
        };
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder r = HttpRequest.newBuilder(server.resolve(path)).timeout(timeout)
                .header("accept", "application/json");
        String token = token();
        if (token != null) {
            r.header("authorization", "Bearer " + token);
        }
        return r;
    }

    private String token() {
        if (tokenFile == null) {
            return null;
        }
        try {
            return Files.readString(tokenFile, StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            throw new KubernetesException("cannot read the service account token " + tokenFile + ": "
                    + e.getMessage(), e);
        }
    }

    private Response send(HttpRequest.Builder request) {
        HttpRequest r = request.build();
        HttpResponse<String> response;
        try {
            response = http.send(r, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new KubernetesException(r.method() + " " + r.uri().getPath() + ": " + describe(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KubernetesException(r.method() + " " + r.uri().getPath() + ": interrupted", e);
        }
        String text = response.body();
        JsonObject body;
        try {
            body = text == null || text.isBlank() ? new JsonObject() : new JsonObject(text);
        } catch (DecodeException e) {
            body = new JsonObject().put("message", "not JSON: " + text.substring(0, Math.min(200, text.length())));
        }
        return new Response(response.statusCode(), body);
    }

    private static String describe(Throwable e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    private static SSLContext clusterTrust(Path caFile) {
        try {
            List<X509Certificate> roots = Pem.certificates(Files.readString(caFile, StandardCharsets.UTF_8));
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            for (int i = 0; i < roots.size(); i++) {
                ks.setCertificateEntry("cluster-ca-" + i, roots.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException e) {
            throw new UncheckedIOException("kubernetes.caFile " + caFile + ": cannot read: " + e.getMessage(), e);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("kubernetes.caFile " + caFile + ": " + e.getMessage(), e);
        }
    }
}
