package io.jmesh.core.kubernetes;

import io.jmesh.core.config.Durations;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.Map;

/**
 * How a control-plane service reaches the Kubernetes API: an explicit server URL with its token and CA files, or,
 * with {@code apiServer} empty, in-cluster (the address Kubernetes puts in every pod's environment, the pod's own
 * ServiceAccount token and CA bundle). The same four keys in every service's {@code kubernetes:} section; each
 * value is checked here and refused naming the key.
 */
public record KubernetesConnection(String apiServer, String tokenFile, String caFile, Duration requestTimeout) {

    /** Where Kubernetes mounts a pod's ServiceAccount token, CA bundle and namespace. */
    public static final String SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

    public KubernetesConnection {
        apiServer = apiServer == null ? "" : apiServer.trim();
        tokenFile = tokenFile == null ? "" : tokenFile.trim();
        caFile = caFile == null ? "" : caFile.trim();
        if (!apiServer.isEmpty()) {
            URI u = parseServer(apiServer);
            if (!"https".equals(u.getScheme()) && !"http".equals(u.getScheme())) {
                throw new IllegalArgumentException("apiServer: '" + apiServer
                        + "' (expected: an https:// URL, or empty for in-cluster)");
            }
        }
        if (requestTimeout == null || requestTimeout.isZero() || requestTimeout.isNegative()) {
            throw new IllegalArgumentException("requestTimeout: " + (requestTimeout == null ? "missing"
                    : requestTimeout.isNegative() ? requestTimeout.toString() : Durations.format(requestTimeout))
                    + " (expected: > 0)");
        }
    }

    /** The token to call the API with: {@link #tokenFile}, or in-cluster (no {@code apiServer}) the pod's own. */
    public String effectiveTokenFile() {
        return !tokenFile.isEmpty() || !apiServer.isEmpty() ? tokenFile : SERVICE_ACCOUNT_DIR + "/token";
    }

    /** The API server's CA bundle: {@link #caFile}, or in-cluster (no {@code apiServer}) the pod's own. */
    public String effectiveCaFile() {
        return !caFile.isEmpty() || !apiServer.isEmpty() ? caFile : SERVICE_ACCOUNT_DIR + "/ca.crt";
    }

    /** The API server: {@link #apiServer}, or in-cluster from the environment Kubernetes gives every pod. */
    public URI serverUri() {
        return serverUri(System.getenv());
    }

    public URI serverUri(Map<String, String> env) {
        if (!apiServer.isEmpty()) {
            return parseServer(apiServer.endsWith("/") ? apiServer : apiServer + "/");
        }
        String host = env.get("KUBERNETES_SERVICE_HOST");
        String port = env.getOrDefault("KUBERNETES_SERVICE_PORT", "443");
        if (host == null || host.isBlank()) {
            throw new IllegalStateException("kubernetes.apiServer: empty and KUBERNETES_SERVICE_HOST is not set"
                    + " (expected: running in a pod, or an explicit apiServer URL)");
        }
        return parseServer("https://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port + "/");
    }

    private static URI parseServer(String s) {
        try {
            return new URI(s);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("apiServer: '" + s + "' (expected: a URL: " + e.getReason() + ")");
        }
    }
}
