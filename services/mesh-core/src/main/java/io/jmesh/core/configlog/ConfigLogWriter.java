package io.jmesh.core.configlog;

import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.proto.config.v1.ConfigRecord;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Writes objects and tombstones to the config log. Unlike telemetry events, configuration writes are
 * acknowledged by every in-sync replica and reported to the caller: an apply that did not reach the log failed.
 *
 * <p>Callers validate before writing; the reader's envelope checks are a last line of defence, not validation.
 * Thread-safe. {@code put}/{@code delete} may block briefly on Kafka metadata; call them off event loops.
 */
public final class ConfigLogWriter implements AutoCloseable {

    private final String topic;
    private final KafkaProducer<byte[], byte[]> producer;

    public ConfigLogWriter(String bootstrapServers, String clientId) {
        this(bootstrapServers, ConfigLog.TOPIC, clientId);
    }

    public ConfigLogWriter(String bootstrapServers, String topic, String clientId) {
        this.topic = topic;
        // every producer's settings (idempotent, acks=all), waiting longer for Kafka: a configuration change is
        // written by an operator's call or a watch, never on the hot path
        Properties p = new KafkaSettings(bootstrapServers, 1, Duration.ofSeconds(30)).idempotentProducer(clientId);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        this.producer = new KafkaProducer<>(p);
    }

    /** Writes {@code record} under its own key. */
    public CompletableFuture<RecordMetadata> put(ConfigRecord record) {
        if (record.getSchemaVersion() == 0) {
            record = record.toBuilder().setSchemaVersion(ConfigLog.SCHEMA_VERSION).build();
        }
        return send(ConfigKey.of(record), record.toByteArray());
    }

    /** Writes a tombstone: the object is deleted. */
    public CompletableFuture<RecordMetadata> delete(ConfigKey key) {
        return send(key, null);
    }

    /** Writes raw bytes under a raw key; for tests that prove bad records are skipped. */
    public CompletableFuture<RecordMetadata> putRaw(byte[] key, byte[] value) {
        CompletableFuture<RecordMetadata> f = new CompletableFuture<>();
        producer.send(new ProducerRecord<>(topic, key, value), (md, err) -> {
            if (err != null) {
                f.completeExceptionally(err);
            } else {
                f.complete(md);
            }
        });
        return f;
    }

    private CompletableFuture<RecordMetadata> send(ConfigKey key, byte[] value) {
        return putRaw(key.bytes(), value);
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
