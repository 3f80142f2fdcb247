package io.jmesh.ca;

import io.jmesh.ca.kubernetes.KubernetesSettings;
import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.config.Durations;
import io.jmesh.core.config.Ports;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.grpc.MaxConnectionAge;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Configuration of ca; defaults and their documentation in {@code ca-defaults.yaml}. Every record validates
 * itself, so a bad value is refused at start naming the key, the value and what was expected.
 */
public record CaConfig(
        String logLevel,
        Duration drainDeadline,
        AdminConfig admin,
        String replica,
        String trustDomain,
        String stateDir,
        Duration stateReloadInterval,
        Grpc grpc,
        Tls tls,
        Certificates certificates,
        Root root,
        Tokens tokens,
        Placement placement,
        Revocation revocation,
        Audit audit,
        KafkaSettings kafka,
        KubernetesSettings kubernetes) implements ServiceConfig {

    private static final Pattern DNS_NAME = Pattern.compile(
            "(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*");

    public CaConfig {
        Objects.requireNonNull(admin, "admin");
        requireNonNull(grpc, "grpc");
        requireNonNull(tls, "tls");
        requireNonNull(certificates, "certificates");
        requireNonNull(root, "root");
        requireNonNull(tokens, "tokens");
        requireNonNull(placement, "placement");
        requireNonNull(revocation, "revocation");
        requireNonNull(audit, "audit");
        requireNonNull(kafka, "kafka");
        requireNonNull(kubernetes, "kubernetes");
        replica = replica == null ? "" : replica.trim();
        try {
            SpiffeId.of(trustDomain == null ? "" : trustDomain, "istio-system", "ca");
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("trustDomain: '" + trustDomain
                    + "' (expected: lowercase letters, digits, '.', '-', '_', e.g. cluster.local)");
        }
        if (stateDir == null || stateDir.isBlank()) {
            throw new IllegalArgumentException("stateDir: '" + stateDir + "' (expected: a directory path)");
        }
        positive("stateReloadInterval", stateReloadInterval);
        positive("drainDeadline", drainDeadline);
        // the CRL is re-signed at half of its validity, but only when a state check runs: leave it a quarter of
        // its validity at worst, or it could pass nextUpdate first and ztunnels would refuse it (crl_stale)
        Duration crlRefreshBound = revocation.crlValidity().dividedBy(4);
        if (stateReloadInterval.compareTo(crlRefreshBound) > 0) {
            throw new IllegalArgumentException("stateReloadInterval: " + fmt(stateReloadInterval)
                    + " (expected: <= revocation.crlValidity / 4 = " + fmt(crlRefreshBound)
                    + ", so the CRL is re-signed well before its nextUpdate)");
        }
        if (placement.source().equals(Placement.CONFIG_LOG) && !kafka.enabled()) {
            throw new IllegalArgumentException("placement.source: config-log needs kafka.bootstrapServers"
                    + " (expected: a Kafka address, or placement.source: none)");
        }
        if (certificates.maxCsrBytes() > grpc.maxRequestBytes()) {
            throw new IllegalArgumentException("certificates.maxCsrBytes: " + certificates.maxCsrBytes()
                    + " (expected: <= grpc.maxRequestBytes " + grpc.maxRequestBytes() + ")");
        }
    }

    /** The replica name: {@link #replica} or, when empty, the host name. */
    public String replicaName() {
        if (!replica.isEmpty()) {
            return replica;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "ca";
        }
    }

    public Path stateDirPath() {
        return Path.of(stateDir);
    }

    /**
     * gRPC listener.
     *
     * @param maxConnectionAge a connection this old (within 10 % jitter) is sent GOAWAY, so ztunnels' CA connections
     *     rebalance across replicas (istiod's {@code --keepaliveMaxServerConnectionAge})
     * @param maxConnectionAgeGrace how long after its GOAWAY an aged connection is closed, streams and all
     */
    public record Grpc(String host, int port, int eventLoops, int maxRequestBytes, int maxConcurrentStreams,
            Duration keepaliveInterval, Duration keepaliveTimeout, Duration maxConnectionAge,
            Duration maxConnectionAgeGrace) {
        public Grpc {
            Http2Liveness.Settings keepalive = Http2Liveness.Settings.configured("grpc.", keepaliveInterval,
                    keepaliveTimeout, Http2Liveness.Settings.ISTIO);
            keepaliveInterval = keepalive.interval();
            keepaliveTimeout = keepalive.timeout();
            MaxConnectionAge.Settings aged = MaxConnectionAge.Settings.of("grpc.", maxConnectionAge,
                    maxConnectionAgeGrace);
            maxConnectionAge = aged.age();
            maxConnectionAgeGrace = aged.grace();
            if (host == null || host.isBlank()) {
                throw new IllegalArgumentException("host: '" + host + "' (expected: an address to bind)");
            }
            Ports.check("port", port);
            if (eventLoops < 0 || eventLoops > 64) {
                throw new IllegalArgumentException("eventLoops: " + eventLoops + " (expected: 0..64, 0 = one per CPU)");
            }
            if (maxRequestBytes < 1024 || maxRequestBytes > 16 * 1024 * 1024) {
                throw new IllegalArgumentException("maxRequestBytes: " + maxRequestBytes
                        + " (expected: 1024..16777216)");
            }
            if (maxConcurrentStreams < 1) {
                throw new IllegalArgumentException("maxConcurrentStreams: " + maxConcurrentStreams
                        + " (expected: >= 1)");
            }
        }

        /**
         * The PING schedule of each connection, as istiod's {@code --keepaliveInterval}/{@code --keepaliveTimeout}:
         * a connection whose PING goes unanswered is closed, and its streams (trust bundle watches) end.
         */
        public Http2Liveness.Settings keepalive() {
            return new Http2Liveness.Settings(keepaliveInterval, keepaliveTimeout);
        }

        public int effectiveEventLoops() {
            return eventLoops == 0 ? Runtime.getRuntime().availableProcessors() : eventLoops;
        }
    }

    /** The CA's own serving certificate. */
    public record Tls(List<String> dnsSans, List<String> ipSans, Duration servingCertValidity) {
        public Tls {
            dnsSans = dnsSans == null ? List.of() : List.copyOf(dnsSans);
            ipSans = ipSans == null ? List.of() : List.copyOf(ipSans);
            for (String d : dnsSans) {
                if (!DNS_NAME.matcher(d).matches()) {
                    throw new IllegalArgumentException("dnsSans: '" + d + "' (expected: a DNS name)");
                }
            }
            for (String ip : ipSans) {
                if (!isIpLiteral(ip)) {
                    throw new IllegalArgumentException("ipSans: '" + ip + "' (expected: an IPv4 or IPv6 address)");
                }
            }
            if (servingCertValidity == null || servingCertValidity.compareTo(Duration.ofMinutes(10)) < 0) {
                throw new IllegalArgumentException("servingCertValidity: " + fmt(servingCertValidity)
                        + " (expected: >= 10m)");
            }
        }
    }

    /** Profile and limits of issued workload certificates. */
    public record Certificates(Duration defaultValidity, Duration maxValidity, boolean zeroValidityMeansDefault,
            Duration backdate, int maxCsrBytes, int signingThreads, int maxPendingSignatures) {
        public Certificates {
            positive("defaultValidity", defaultValidity);
            positive("maxValidity", maxValidity);
            if (maxValidity.toSeconds() < 1) {
                throw new IllegalArgumentException("maxValidity: " + fmt(maxValidity) + " (expected: >= 1s)");
            }
            if (defaultValidity.compareTo(maxValidity) > 0) {
                throw new IllegalArgumentException("defaultValidity: " + fmt(defaultValidity)
                        + " (expected: <= maxValidity " + fmt(maxValidity) + ")");
            }
            if (backdate == null || backdate.isNegative() || backdate.compareTo(Duration.ofHours(1)) > 0) {
                throw new IllegalArgumentException("backdate: " + fmt(backdate) + " (expected: 0s..1h)");
            }
            if (maxCsrBytes < 256) {
                throw new IllegalArgumentException("maxCsrBytes: " + maxCsrBytes + " (expected: >= 256)");
            }
            if (signingThreads < 0 || signingThreads > 256) {
                throw new IllegalArgumentException("signingThreads: " + signingThreads
                        + " (expected: 0..256, 0 = one per CPU)");
            }
            if (maxPendingSignatures < 1) {
                throw new IllegalArgumentException("maxPendingSignatures: " + maxPendingSignatures
                        + " (expected: >= 1)");
            }
        }

        public int effectiveSigningThreads() {
            return signingThreads == 0 ? Runtime.getRuntime().availableProcessors() : signingThreads;
        }
    }

    /** Root of trust: generated into the state directory, or plugged in. */
    public record Root(String pluginCertsDir, Duration validity, String organization) {
        public Root {
            pluginCertsDir = pluginCertsDir == null ? "" : pluginCertsDir.trim();
            organization = organization == null ? "" : organization.trim();
            if (validity == null || validity.compareTo(Duration.ofDays(1)) < 0) {
                throw new IllegalArgumentException("validity: " + fmt(validity) + " (expected: >= 1d)");
            }
        }

        public boolean plugin() {
            return !pluginCertsDir.isEmpty();
        }
    }

    /** Bootstrap tokens. */
    public record Tokens(Duration defaultTtl) {
        public Tokens {
            if (defaultTtl == null || defaultTtl.isNegative()) {
                throw new IllegalArgumentException("defaultTtl: " + fmt(defaultTtl) + " (expected: >= 0s, 0s = never expires)");
            }
        }
    }

    /** Where workload placement comes from. */
    public record Placement(String source, String topic) {
        public static final String CONFIG_LOG = "config-log";
        public static final String NONE = "none";

        public Placement {
            if (!CONFIG_LOG.equals(source) && !NONE.equals(source)) {
                throw new IllegalArgumentException("source: '" + source + "' (expected: config-log or none)");
            }
            requireTopic(topic);
        }
    }

    /**
     * Revocations and CRLs.
     *
     * @param topicReplicationFactor replicas of the revocation topic when ca creates it; 0 = as many as there are
     *     brokers, at most 3
     * @param pruneAfterExpiry how long after its certificate expired a revocation leaves the state directory (with
     *     Kafka: once this replica saw its tombstone stored)
     */
    public record Revocation(String topic, Duration crlValidity, int topicReplicationFactor,
            Duration pruneAfterExpiry) {
        public Revocation {
            requireTopic(topic);
            new TopicReplication("topicReplicationFactor", topicReplicationFactor); // validates it
            if (crlValidity == null || crlValidity.compareTo(Duration.ofMinutes(2)) < 0) {
                throw new IllegalArgumentException("crlValidity: " + fmt(crlValidity) + " (expected: >= 2m)");
            }
            // the CRL leaves a revocation out once its certificate expired; waiting a CRL validity more lets every
            // CRL signed before (a replica's clock behind, a ztunnel's CRL not refreshed yet) pass its nextUpdate
            if (pruneAfterExpiry == null || pruneAfterExpiry.compareTo(crlValidity) < 0) {
                throw new IllegalArgumentException("pruneAfterExpiry: " + fmt(pruneAfterExpiry)
                        + " (expected: >= crlValidity " + fmt(crlValidity) + ", so every CRL signed while the"
                        + " certificate was valid has passed its nextUpdate)");
            }
        }
    }

    /** Audit events. */
    public record Audit(String topic) {
        public Audit {
            requireTopic(topic);
        }
    }

    private static void requireTopic(String topic) {
        if (topic == null || !topic.matches("[a-zA-Z0-9._-]{1,249}")) {
            throw new IllegalArgumentException("topic: '" + topic + "' (expected: a Kafka topic name)");
        }
    }

    private static void requireNonNull(Object o, String key) {
        if (o == null) {
            throw new IllegalArgumentException(key + ": missing (expected: a mapping)");
        }
    }

    private static void positive(String key, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(key + ": " + fmt(d) + " (expected: > 0)");
        }
    }

    private static String fmt(Duration d) {
        return d == null ? "missing" : d.isNegative() ? d.toString() : Durations.format(d);
    }

    static boolean isIpLiteral(String s) {
        if (s == null || s.isEmpty()) {
            return false;
        }
        if (s.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
            for (String part : s.split("\\.")) {
                if (Integer.parseInt(part) > 255) {
                    return false;
                }
            }
            return true;
        }
        return s.contains(":") && s.matches("[0-9a-fA-F:.]+");
    }
}
