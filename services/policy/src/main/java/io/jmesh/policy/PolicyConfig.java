package io.jmesh.policy;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.config.Durations;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.grpc.MaxConnectionAge;
import io.jmesh.core.kafka.TopicReplication;
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
    /**
     * @param replicationFactor replicas of the config log when policy creates it; 0 = min(3, brokers of the cluster)
     */
    public record Kafka(String bootstrapServers, String topic, int replicationFactor) {
        public Kafka {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("bootstrapServers: empty (expected: host:port[,host:port])");
            }
            new TopicReplication("replicationFactor", replicationFactor); // validates it (the loader adds "kafka")
        }

        /** How the config log's replicas are chosen when policy creates it. */
        public TopicReplication replication() {
            return new TopicReplication("kafka.replicationFactor", replicationFactor);
        }
    }

    /**
     * The discovery (and config admin) gRPC server.
     *
     * @param reloadInterval how often {@code certFile}/{@code keyFile} and {@code tokenReview.caFile} are read
     *     again; changed, valid content is used for new connections (Kubernetes updates mounted files in place)
     * @param admission how many new discovery streams start at once
     * @param keepaliveInterval HTTP/2 PING interval on each connection (istiod's {@code --keepaliveInterval})
     * @param keepaliveTimeout a connection whose PING goes unanswered this long is closed, its streams released
     *     (istiod's {@code --keepaliveTimeout})
     * @param maxConnectionAge a connection this old (within 10 % jitter) is sent GOAWAY, so ztunnels rebalance
     *     across replicas (istiod's {@code --keepaliveMaxServerConnectionAge})
     * @param maxConnectionAgeGrace how long after its GOAWAY an aged connection is closed, streams and all
     */
    public record Xds(String host, int port, String certFile, String keyFile, int maxResourcesPerResponse,
            Duration reloadInterval, Admission admission, Duration keepaliveInterval, Duration keepaliveTimeout,
            Duration maxConnectionAge, Duration maxConnectionAgeGrace) {
        public Xds {
            Http2Liveness.Settings keepalive = Http2Liveness.Settings.configured("xds.", keepaliveInterval,
                    keepaliveTimeout, Http2Liveness.Settings.ISTIO);
            keepaliveInterval = keepalive.interval();
            keepaliveTimeout = keepalive.timeout();
            MaxConnectionAge.Settings aged = MaxConnectionAge.Settings.of("xds.", maxConnectionAge,
                    maxConnectionAgeGrace);
            maxConnectionAge = aged.age();
            maxConnectionAgeGrace = aged.grace();
            if (reloadInterval == null || reloadInterval.isNegative() || reloadInterval.isZero()) {
                throw new IllegalArgumentException("reloadInterval: " + reloadInterval + " (expected: > 0)");
            }
            if (maxResourcesPerResponse < 1) {
                throw new IllegalArgumentException("maxResourcesPerResponse: " + maxResourcesPerResponse
                        + " (expected: >= 1)");
            }
            admission = admission == null ? Admission.DEFAULT : admission;
        }

        /** The default admission (tests). */
        public Xds(String host, int port, String certFile, String keyFile, int maxResourcesPerResponse,
                Duration reloadInterval) {
            this(host, port, certFile, keyFile, maxResourcesPerResponse, reloadInterval, Admission.DEFAULT, null, null,
                    null, null);
        }

        /** The PING schedule of each connection. */
        public Http2Liveness.Settings keepalive() {
            return new Http2Liveness.Settings(keepaliveInterval, keepaliveTimeout);
        }

        /**
         * Admission of new discovery streams, so that every ztunnel reconnecting at once (after a restart) costs a
         * bounded amount of heap and work ({@code io.jmesh.policy.xds.StreamAdmission}).
         *
         * @param maxNewStreamsPerSecond new streams started per second, as istiod's
         *     {@code PILOT_MAX_REQUESTS_PER_SECOND}; 0: derived from the cores as istiod does (15 + 5 per core, at
         *     most 100)
         * @param maxSyncingStreams streams at most between their token's review and their first full configuration
         *     acknowledged (each keeps what its ztunnel announced it holds meanwhile); a node's reconnect takes over
         *     the place its node holds when no other is free
         * @param maxInitialSync longest a stream keeps its initial-sync place (one stalled gives it up and goes on)
         * @param maxStreamsPerNode streams one node holds at most: its newest beyond ends its oldest
         */
        public record Admission(int maxNewStreamsPerSecond, int maxSyncingStreams, Duration maxInitialSync,
                int maxStreamsPerNode) {
            public static final Admission DEFAULT = new Admission(0, 16, Duration.ofSeconds(60), 4);

            public Admission {
                if (maxNewStreamsPerSecond < 0) {
                    throw new IllegalArgumentException("maxNewStreamsPerSecond: " + maxNewStreamsPerSecond
                            + " (expected: >= 0; 0 derives it from the cores)");
                }
                if (maxSyncingStreams < 1) {
                    throw new IllegalArgumentException("maxSyncingStreams: " + maxSyncingStreams
                            + " (expected: >= 1)");
                }
                if (maxInitialSync == null || maxInitialSync.toSeconds() < 1) {
                    throw new IllegalArgumentException("maxInitialSync: " + (maxInitialSync == null ? "missing"
                            : Durations.format(maxInitialSync)) + " (expected: >= 1s)");
                }
                if (maxStreamsPerNode < 1) {
                    throw new IllegalArgumentException("maxStreamsPerNode: " + maxStreamsPerNode
                            + " (expected: >= 1; a node's newest stream beyond it ends its oldest)");
                }
            }

            /** New streams per second in force: as configured, or istiod's heuristic for {@code cores}. */
            public int newStreamsPerSecond(int cores) {
                return maxNewStreamsPerSecond > 0 ? maxNewStreamsPerSecond : Math.min(15 + 5 * cores, 100);
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
            Duration requestTimeout, List<String> kinds, LeaderElection leaderElection) {
        /** The source off (local mode, tests). */
        public static final Kubernetes OFF = new Kubernetes(false, "", "", "", Duration.ofSeconds(30), List.of(),
                LeaderElection.OFF);

        /** One replica writing, without an election (one replica, tests). */
        public Kubernetes(boolean enabled, String apiServer, String tokenFile, String caFile, Duration requestTimeout,
                List<String> kinds) {
            this(enabled, apiServer, tokenFile, caFile, requestTimeout, kinds, LeaderElection.OFF);
        }

        public Kubernetes {
            leaderElection = leaderElection == null ? LeaderElection.OFF : leaderElection;
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

        /**
         * Which replica writes: the holder of the Lease {@code namespace/name} (empty namespace: this pod's own,
         * from its ServiceAccount mount), as {@code identity} (empty: the pod's name, {@code HOSTNAME}).
         */
        public record LeaderElection(boolean enabled, String namespace, String name, String identity,
                Duration leaseDuration, Duration renewDeadline, Duration retryPeriod) {
            public static final LeaderElection OFF = new LeaderElection(false, "", "jmesh-policy-kubernetes", "",
                    Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2));

            public LeaderElection {
                namespace = namespace == null ? "" : namespace.trim();
                identity = identity == null ? "" : identity.trim();
                if (name == null || !name.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?") || name.length() > 253) {
                    throw new IllegalArgumentException("name: '" + name
                            + "' (expected: a DNS subdomain, the Lease's name)");
                }
                positive("retryPeriod", retryPeriod);
                positive("renewDeadline", renewDeadline);
                positive("leaseDuration", leaseDuration);
                if (leaseDuration.toSeconds() < 1 || renewDeadline.compareTo(leaseDuration) >= 0
                        || retryPeriod.compareTo(renewDeadline) >= 0) {
                    throw new IllegalArgumentException("retryPeriod " + Durations.format(retryPeriod)
                            + ", renewDeadline " + Durations.format(renewDeadline) + ", leaseDuration "
                            + Durations.format(leaseDuration) + " (expected: retryPeriod < renewDeadline <"
                            + " leaseDuration, at least 1s: a holder stops leading before another may take over)");
                }
            }

            private static void positive(String key, Duration d) {
                if (d == null || d.isNegative() || d.isZero()) {
                    throw new IllegalArgumentException(key + ": " + (d == null ? "missing" : Durations.format(d))
                            + " (expected: > 0)");
                }
            }
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
