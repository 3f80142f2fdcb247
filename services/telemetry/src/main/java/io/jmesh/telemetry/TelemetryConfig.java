package io.jmesh.telemetry;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.core.lifecycle.ServiceConfig;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import java.time.Duration;

/**
 * Configuration of telemetry; defaults (each key documented) in {@code telemetry-defaults.yaml}.
 *
 * @param kafka where events come from and where checkpoints and dead letters go
 * @param seriesTtl a metric series not updated for this long is removed (its workload is gone)
 * @param openSeriesTtl the same for a TCP series with connections still open: ztunnel reports a connection at open
 *     and at close only, so a long-lived connection updates nothing in between; this bounds a close that is lost
 * @param graph the service graph's sliding window
 * @param otlp OpenTelemetry export of the aggregated metrics
 * @param metrics what the Istio series served on {@code /metrics} and exported over OTLP carry
 */
public record TelemetryConfig(String logLevel, Duration drainDeadline, AdminConfig admin, IngestConfig kafka,
        Duration seriesTtl, Duration openSeriesTtl, GraphConfig graph, OtlpConfig otlp, MetricsConfig metrics)
        implements ServiceConfig {

    public TelemetryConfig {
        if (seriesTtl == null || seriesTtl.toMillis() < 1000) {
            throw new IllegalArgumentException("seriesTtl: " + seriesTtl + " (expected: >= 1s)");
        }
        if (openSeriesTtl == null || openSeriesTtl.compareTo(seriesTtl) < 0) {
            throw new IllegalArgumentException("openSeriesTtl: " + openSeriesTtl + " (expected: >= seriesTtl, "
                    + seriesTtl + ")");
        }
        metrics = metrics == null ? MetricsConfig.ALL_LABELS : metrics;
    }

    /** Every series with all of Istio's labels (tests that build the record by hand). */
    public TelemetryConfig(String logLevel, Duration drainDeadline, AdminConfig admin, IngestConfig kafka,
            Duration seriesTtl, Duration openSeriesTtl, GraphConfig graph, OtlpConfig otlp) {
        this(logLevel, drainDeadline, admin, kafka, seriesTtl, openSeriesTtl, graph, otlp, null);
    }

    /**
     * The Istio series this service serves.
     *
     * @param removeLabels labels left out of the {@code istio_tcp_*} and {@code istio_request*} series, as Istio's
     *     Telemetry API removes a tag ({@code operation: REMOVE}): events that differed only in them are counted in
     *     one series, for fewer series where, say, per-pod principals or canonical revisions are too many. Any of
     *     Istio's traffic labels but {@code reporter}; empty by default. The service graph keeps every label
     */
    public record MetricsConfig(java.util.List<String> removeLabels) {
        public static final MetricsConfig ALL_LABELS = new MetricsConfig(java.util.List.of());

        public MetricsConfig {
            removeLabels = removeLabels == null ? java.util.List.of() : java.util.List.copyOf(removeLabels);
            RemovedLabels.of(removeLabels); // names the first bad one
        }

        /** The labels removed, checked. */
        public RemovedLabels removed() {
            return RemovedLabels.of(removeLabels);
        }
    }

    /**
     * The consumer group and its topics.
     *
     * @param bootstrapServers Kafka {@code host:port} list; empty disables ingestion (the service still serves)
     * @param groupId consumer group shared by every telemetry replica
     * @param instanceId this replica's name, part of its transactional id; empty picks a random one
     * @param connectionTopic L4 {@code ConnectionEvent}s
     * @param requestTopic L7 {@code RequestEvent}s
     * @param deadLetterTopic undecodable records, with headers naming the reason
     * @param checkpointTopic compacted topic of per-partition aggregates, written in the offsets' transaction
     * @param commitInterval how often aggregates and offsets are committed (and metrics published)
     * @param createTopics create missing topics at start; when false an operator creates them (nothing else does,
     *     the Helm chart neither) and telemetry waits for them
     * @param partitions partitions of the event topics when this service creates them
     * @param replicationFactor replicas of every topic this service creates; 0 = min(3, brokers of the cluster)
     */
    public record IngestConfig(String bootstrapServers, String groupId, String instanceId, String connectionTopic,
            String requestTopic, String deadLetterTopic, String checkpointTopic, Duration commitInterval,
            boolean createTopics, int partitions, int replicationFactor) {
        public IngestConfig {
            bootstrapServers = bootstrapServers == null ? "" : bootstrapServers.trim();
            instanceId = instanceId == null ? "" : instanceId.trim();
            requireName("groupId", groupId);
            requireName("connectionTopic", connectionTopic);
            requireName("requestTopic", requestTopic);
            requireName("deadLetterTopic", deadLetterTopic);
            requireName("checkpointTopic", checkpointTopic);
            if (commitInterval == null || commitInterval.toMillis() < 10) {
                throw new IllegalArgumentException("commitInterval: " + commitInterval + " (expected: >= 10ms)");
            }
            if (partitions < 1) {
                throw new IllegalArgumentException("partitions: " + partitions + " (expected: >= 1)");
            }
            new TopicReplication("replicationFactor", replicationFactor); // validates it (the loader adds "kafka")
        }

        /** How the topics this service creates are replicated. */
        public TopicReplication replication() {
            return new TopicReplication("kafka.replicationFactor", replicationFactor);
        }

        public boolean enabled() {
            return !bootstrapServers.isEmpty();
        }

        private static void requireName(String key, String value) {
            if (value == null || value.isBlank()) {
                throw new IllegalArgumentException(key + ": '" + value + "' (expected: a non-empty name)");
            }
        }
    }

    /**
     * The service graph.
     *
     * @param bucket granularity of the sliding window
     * @param retention the longest window {@code /graph?window=} may ask for
     */
    public record GraphConfig(Duration bucket, Duration retention) {
        public GraphConfig {
            if (bucket == null || bucket.toMillis() < 100) {
                throw new IllegalArgumentException("bucket: " + bucket + " (expected: >= 100ms)");
            }
            if (retention == null || retention.compareTo(bucket) < 0 || retention.toMillis() / bucket.toMillis() > 10_000) {
                throw new IllegalArgumentException("retention: " + retention
                        + " (expected: >= bucket and at most 10000 buckets)");
            }
        }
    }

    /**
     * OTLP/gRPC export of the aggregated metrics, and forwarding of the spans waypoints publish.
     *
     * @param endpoint collector {@code host:port} (plaintext gRPC); empty disables export and forwarding
     * @param interval how often the aggregated metrics are exported
     * @param timeout how long one export may take
     * @param tracesTopic topic of OTLP {@code ExportTraceServiceRequest} records to forward; empty: none
     * @param serviceInstanceId this replica's own unique name (its pod's, which the chart passes), the source of
     *     the {@code service.instance.id} it exports under; empty: a random one per process
     * @param keepaliveInterval HTTP/2 PING interval on each connection to the collector (5 min: what a grpc-go
     *     collector accepts by default)
     * @param keepaliveTimeout a connection whose PING goes unanswered this long is closed (a half-open connection
     *     would otherwise fail every export until the kernel gives up)
     */
    public record OtlpConfig(String endpoint, Duration interval, Duration timeout, String tracesTopic,
            String serviceInstanceId, Duration keepaliveInterval, Duration keepaliveTimeout) {
        /** The least PING interval a stock grpc-go collector accepts (its keepalive enforcement's min_time). */
        public static final Duration COLLECTOR_PING_INTERVAL = Duration.ofMinutes(5);

        public OtlpConfig {
            Http2Liveness.Settings keepalive = Http2Liveness.Settings.configured("otlp.", keepaliveInterval,
                    keepaliveTimeout, new Http2Liveness.Settings(COLLECTOR_PING_INTERVAL, Http2Liveness.ISTIO_TIMEOUT));
            keepaliveInterval = keepalive.interval();
            keepaliveTimeout = keepalive.timeout();
            endpoint = endpoint == null ? "" : endpoint.trim();
            tracesTopic = tracesTopic == null ? "" : tracesTopic.trim();
            serviceInstanceId = serviceInstanceId == null ? "" : serviceInstanceId.trim();
            if (interval == null || interval.toMillis() < 100) {
                throw new IllegalArgumentException("interval: " + interval + " (expected: >= 100ms)");
            }
            if (timeout == null || timeout.toMillis() < 100) {
                throw new IllegalArgumentException("timeout: " + timeout + " (expected: >= 100ms)");
            }
        }

        /** Without a {@link #serviceInstanceId}: a random one per process. */
        public OtlpConfig(String endpoint, Duration interval, Duration timeout, String tracesTopic) {
            this(endpoint, interval, timeout, tracesTopic, "");
        }

        /** With the default keepalive (30 s, 10 s). */
        public OtlpConfig(String endpoint, Duration interval, Duration timeout, String tracesTopic,
                String serviceInstanceId) {
            this(endpoint, interval, timeout, tracesTopic, serviceInstanceId, null, null);
        }

        /** The PING schedule of each connection to the collector. */
        public Http2Liveness.Settings keepalive() {
            return new Http2Liveness.Settings(keepaliveInterval, keepaliveTimeout);
        }

        public boolean enabled() {
            return !endpoint.isEmpty();
        }

        public boolean forwardsTraces() {
            return enabled() && !tracesTopic.isEmpty();
        }
    }
}
