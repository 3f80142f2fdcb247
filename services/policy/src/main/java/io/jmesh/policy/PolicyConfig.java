package io.jmesh.policy;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.kubernetes.KubernetesConnection;
import io.jmesh.core.lifecycle.ServiceConfig;
import io.jmesh.policy.kubernetes.WatchedKind;
import java.time.Duration;
import java.util.List;

/**
 * Configuration of policy; defaults (and what every key means) in {@code policy-defaults.yaml}.
 */
public record PolicyConfig(String logLevel, Duration drainDeadline, AdminConfig admin, Mesh mesh, Kafka kafka,
        Xds xds, TokenReview tokenReview, ConfigAdmin configAdmin, Manifests manifests, Kubernetes kubernetes)
        implements ServiceConfig {

    /** Mesh-wide facts. */
    public record Mesh(String rootNamespace, String trustDomain, String clusterId, String domainSuffix) {}

    /** The config log. */
    public record Kafka(String bootstrapServers, String topic, short replicationFactor) {
        public Kafka {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("bootstrapServers: empty (expected: host:port[,host:port])");
            }
        }
    }

    /**
     * The discovery (and config admin) gRPC server.
     *
     * @param reloadInterval how often {@code certFile}/{@code keyFile} and {@code tokenReview.caFile} are read
     *     again; changed, valid content is used for new connections (Kubernetes updates mounted files in place)
     */
    public record Xds(String host, int port, String certFile, String keyFile, int maxResourcesPerResponse,
            Duration reloadInterval) {
        public Xds {
            if (reloadInterval == null || reloadInterval.isNegative() || reloadInterval.isZero()) {
                throw new IllegalArgumentException("reloadInterval: " + reloadInterval + " (expected: > 0)");
            }
            if (maxResourcesPerResponse < 1) {
                throw new IllegalArgumentException("maxResourcesPerResponse: " + maxResourcesPerResponse
                        + " (expected: >= 1)");
            }
        }
    }

    /** Where bearer tokens are reviewed (the CA's TokenReview). */
    public record TokenReview(String host, int port, String caFile, String tokenFile, Duration timeout) {}

    /** Who may call ConfigAdmin. */
    public record ConfigAdmin(List<String> adminIdentities) {
        public ConfigAdmin {
            adminIdentities = adminIdentities == null ? List.of() : List.copyOf(adminIdentities);
        }
    }

    /** The manifest directory source. */
    public record Manifests(String dir, Duration pollInterval) {}

    /**
     * The Kubernetes source: the cluster's objects of {@code kinds}, listed and watched, as istiod registers them.
     * {@code apiServer}, {@code tokenFile}, {@code caFile} and {@code requestTimeout} as in ca
     * ({@link KubernetesConnection}: empty means in-cluster).
     */
    public record Kubernetes(boolean enabled, String apiServer, String tokenFile, String caFile,
            Duration requestTimeout, List<String> kinds) {
        /** The source off (local mode, tests). */
        public static final Kubernetes OFF = new Kubernetes(false, "", "", "", Duration.ofSeconds(30), List.of());

        public Kubernetes {
            kinds = kinds == null ? List.of() : List.copyOf(kinds);
            for (String k : kinds) {
                if (!WatchedKind.NAMES.contains(k)) {
                    throw new IllegalArgumentException("kinds: '" + k + "' (expected some of " + WatchedKind.NAMES
                            + ")");
                }
            }
            if (enabled && kinds.isEmpty()) {
                throw new IllegalArgumentException("kinds: empty (expected some of " + WatchedKind.NAMES
                        + ", or enabled: false)");
            }
            connection(apiServer, tokenFile, caFile, requestTimeout); // checks those four, naming the key
        }

        public KubernetesConnection connection() {
            return connection(apiServer, tokenFile, caFile, requestTimeout);
        }

        private static KubernetesConnection connection(String apiServer, String tokenFile, String caFile,
                Duration requestTimeout) {
            return new KubernetesConnection(apiServer, tokenFile, caFile, requestTimeout);
        }
    }
}
