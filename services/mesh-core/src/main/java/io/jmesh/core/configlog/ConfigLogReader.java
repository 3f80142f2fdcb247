package io.jmesh.core.configlog;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Materializes the config log: replays {@link ConfigLog#TOPIC} from the beginning, then follows it, keeping an
 * immutable {@link ConfigSnapshot} of every live object.
 *
 * <p>A record that cannot be used (bad key, undecodable value, unknown schema version, key and body disagreeing)
 * is skipped, counted in {@code mesh_config_log_rejected_total{reason}} and logged with its offset; the object's
 * previous state stays, and the rest of the log is unaffected.
 *
 * <p>Reading happens on one dedicated thread (Kafka's consumer blocks). Listeners run on that thread after each
 * batch has been swapped in; they must hand work off (e.g. {@code vertx.runOnContext}) rather than block.
 * {@link #snapshot()} is a lock-free read from any thread.
 */
public final class ConfigLogReader implements AutoCloseable {

    /** Called after each applied batch with the new snapshot and the keys that changed in it. */
    @FunctionalInterface
    public interface Listener {
        void changed(ConfigSnapshot snapshot, Set<ConfigKey> changed);
    }

    private static final Logger log = LoggerFactory.getLogger(ConfigLogReader.class);
    private static final Duration POLL = Duration.ofMillis(200);

    private final String topic;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Thread thread;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final CompletableFuture<ConfigSnapshot> caughtUp = new CompletableFuture<>();
    private final Counter rejected;
    private volatile ConfigSnapshot snapshot = ConfigSnapshot.EMPTY;
    private volatile boolean running = true;

    private ConfigLogReader(String bootstrapServers, String topic, String clientId, PrometheusRegistry metrics) {
        this.topic = topic;
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        this.consumer = new KafkaConsumer<>(p);
        this.rejected = Counter.builder().name("mesh_config_log_rejected_total")
                .help("Config log records skipped because they could not be used")
                .labelNames("reason").register(metrics);
        GaugeWithCallback.builder().name("mesh_config_log_objects").help("Live objects materialized from the config log")
                .callback(cb -> cb.call(snapshot.size())).register(metrics);
        this.thread = new Thread(this::run, clientId + "-config-log");
        this.thread.setDaemon(true);
    }

    /** Starts replaying {@link ConfigLog#TOPIC}. */
    public static ConfigLogReader start(String bootstrapServers, String clientId, PrometheusRegistry metrics) {
        return start(bootstrapServers, ConfigLog.TOPIC, clientId, metrics);
    }

    /** Starts replaying {@code topic} (tests use their own topic names). */
    public static ConfigLogReader start(String bootstrapServers, String topic, String clientId,
            PrometheusRegistry metrics) {
        ConfigLogReader r = new ConfigLogReader(bootstrapServers, topic, clientId, metrics);
        r.thread.start();
        return r;
    }

    public ConfigSnapshot snapshot() {
        return snapshot;
    }

    /** Completes with the first snapshot that includes everything the log held when the reader started. */
    public CompletableFuture<ConfigSnapshot> caughtUp() {
        return caughtUp;
    }

    /** Adds a listener; it is not called for the current state (read {@link #snapshot()} for that). */
    public void onChange(Listener listener) {
        listeners.add(listener);
    }

    private void run() {
        try {
            List<TopicPartition> partitions = awaitPartitions();
            if (partitions == null) {
                return;
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> startEnd = consumer.endOffsets(partitions);
            checkCaughtUp(startEnd);
            while (running) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(POLL);
                if (!batch.isEmpty()) {
                    apply(batch, partitions);
                }
                if (!caughtUp.isDone()) {
                    checkCaughtUp(startEnd);
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            log.atError().setCause(e).addKeyValue("topic", topic).log("config log reader stopped");
            caughtUp.completeExceptionally(e);
        } finally {
            consumer.close(Duration.ofSeconds(1));
        }
    }

    /** Waits (boundedly per attempt, until closed) for the topic to exist; the writer creates it. */
    private List<TopicPartition> awaitPartitions() {
        boolean warned = false;
        while (running) {
            List<PartitionInfo> infos;
            try {
                infos = consumer.partitionsFor(topic, Duration.ofSeconds(2));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                infos = null;
            }
            if (infos != null && !infos.isEmpty()) {
                List<TopicPartition> out = new ArrayList<>();
                infos.forEach(i -> out.add(new TopicPartition(i.topic(), i.partition())));
                return out;
            }
            if (!warned) {
                log.atInfo().addKeyValue("topic", topic).log("waiting for the config log topic to exist");
                warned = true;
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return null;
    }

    private void checkCaughtUp(Map<TopicPartition, Long> target) {
        for (Map.Entry<TopicPartition, Long> e : target.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return;
            }
        }
        ConfigSnapshot s = snapshot;
        if (caughtUp.complete(s)) {
            log.atInfo().addKeyValue("topic", topic).addKeyValue("objects", s.size()).log("config log replayed");
        }
    }

    private void apply(ConsumerRecords<byte[], byte[]> batch, List<TopicPartition> partitions) {
        TreeMap<ConfigKey, ConfigRecord> next = new TreeMap<>(snapshot.records());
        Set<ConfigKey> changed = new TreeSet<>();
        for (ConsumerRecord<byte[], byte[]> r : batch) {
            ConfigKey key;
            try {
                key = ConfigKey.parse(r.key());
            } catch (IllegalArgumentException e) {
                reject(r, "bad_key", e.getMessage());
                continue;
            }
            if (r.value() == null) {
                if (next.remove(key) != null) {
                    changed.add(key);
                }
                continue;
            }
            ConfigRecord record;
            try {
                record = ConfigRecord.parseFrom(r.value());
            } catch (InvalidProtocolBufferException e) {
                reject(r, "undecodable", e.getMessage());
                continue;
            }
            String problem = validateEnvelope(key, record);
            if (problem != null) {
                reject(r, problem.substring(0, problem.indexOf(':')), problem);
                continue;
            }
            if (!record.equals(next.put(key, record))) {
                changed.add(key);
            }
        }
        Map<Integer, Long> offsets = new HashMap<>();
        for (TopicPartition tp : partitions) {
            offsets.put(tp.partition(), consumer.position(tp));
        }
        ConfigSnapshot s = new ConfigSnapshot(next, offsets);
        snapshot = s;
        if (!changed.isEmpty()) {
            Set<ConfigKey> view = java.util.Collections.unmodifiableSet(changed);
            for (Listener l : listeners) {
                try {
                    l.changed(s, view);
                } catch (RuntimeException e) {
                    log.atWarn().setCause(e).log("config log listener failed");
                }
            }
        }
    }

    /** Null when usable, else {@code "<reason>: <message>"}. */
    static String validateEnvelope(ConfigKey key, ConfigRecord record) {
        if (record.getSchemaVersion() != ConfigLog.SCHEMA_VERSION) {
            return "unknown_schema_version: schema_version " + record.getSchemaVersion() + " (expected: "
                    + ConfigLog.SCHEMA_VERSION + ")";
        }
        ConfigKey own;
        try {
            own = ConfigKey.of(record);
        } catch (IllegalArgumentException e) {
            return "key_mismatch: " + e.getMessage();
        }
        if (!own.equals(key)) {
            return "key_mismatch: record names " + own + " but is stored under " + key;
        }
        // the kinds each spec may travel under: a Pod (from the Kubernetes source) carries a workload entry
        List<String> kinds = switch (record.getSpecCase()) {
            case WORKLOAD_ENTRY -> List.of("WorkloadEntry", "Pod");
            case SERVICE -> List.of("Service");
            case AUTHORIZATION_POLICY -> List.of("AuthorizationPolicy");
            case PEER_AUTHENTICATION -> List.of("PeerAuthentication");
            case NAMESPACE -> List.of("Namespace");
            case GATEWAY -> List.of("Gateway");
            case GATEWAY_CLASS -> List.of("GatewayClass");
            case NODE -> List.of("Node");
            case ENDPOINT_SLICE -> List.of("EndpointSlice");
            case SERVICE_ENTRY -> List.of("ServiceEntry");
            case SPEC_NOT_SET -> List.of();
        };
        if (!kinds.contains(record.getKind())) {
            return "kind_mismatch: kind " + record.getKind() + " carries a "
                    + (kinds.isEmpty() ? "missing" : kinds.get(0)) + " spec";
        }
        return null;
    }

    private void reject(ConsumerRecord<byte[], byte[]> r, String reason, String message) {
        rejected.labelValues(reason).inc();
        log.atWarn().addKeyValue("topic", r.topic()).addKeyValue("partition", r.partition())
                .addKeyValue("offset", r.offset()).addKeyValue("reason", reason)
                .log("config log record skipped: {}", message);
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
