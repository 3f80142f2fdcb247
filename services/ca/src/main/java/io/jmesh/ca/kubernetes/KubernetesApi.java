package io.jmesh.ca.kubernetes;

import io.jmesh.core.tls.Pem;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The few Kubernetes API calls the CA makes (TokenReview, reading a Pod, reading and writing Secrets and
 * ConfigMaps), over the JDK's HTTP client. Authenticates with this pod's ServiceAccount token, re-read on every
 * call because projected tokens rotate, and trusts only the cluster CA.
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

    KubernetesApi(URI server, Path tokenFile, HttpClient http, Duration timeout) {
        this.server = server;
        this.tokenFile = tokenFile;
        this.http = http;
        this.timeout = timeout;
    }

    /**
     * A client for {@code settings}: an explicit API server URL, or in-cluster from {@code KUBERNETES_SERVICE_HOST}
     * and {@code KUBERNETES_SERVICE_PORT}. {@code https} servers are verified against {@code caFile}.
     */
    public static KubernetesApi create(KubernetesSettings settings) {
        URI server = settings.serverUri();
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(settings.requestTimeout())
                .version(HttpClient.Version.HTTP_1_1);
        if ("https".equals(server.getScheme())) {
            if (settings.effectiveCaFile().isEmpty()) {
                throw new IllegalArgumentException("kubernetes.caFile: empty for " + server
                        + " (expected: the API server's CA bundle)");
            }
            b.sslContext(clusterTrust(Path.of(settings.effectiveCaFile())));
        }
        String token = settings.effectiveTokenFile();
        return new KubernetesApi(server, token.isEmpty() ? null : Path.of(token),
                b.build(), settings.requestTimeout());
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

    private static String describe(IOException e) {
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
