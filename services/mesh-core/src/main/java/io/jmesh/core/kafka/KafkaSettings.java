package io.jmesh.core.kafka;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * How a service reaches Kafka.
 *
 * @param bootstrapServers comma-separated {@code host:port} list; empty disables Kafka (events are dropped and
 *     counted, nothing else changes)
 * @param queueCapacity events buffered while Kafka is slow or away; beyond it new events are dropped (in ztunnel,
 *     published ones already beyond seven eighths of it: the last eighth is kept for the CLOSED events it offers
 *     again, see {@link EventPublisher})
 * @param deliveryTimeout how long the producer keeps retrying one batch before giving it up
 */
public record KafkaSettings(String bootstrapServers, int queueCapacity, Duration deliveryTimeout) {

    /**
     * How long a batch waits for more events: events are counted into metrics scraped every few seconds, and at a
     * ztunnel's thousands of connections a second each produce request serves ten times as many events as at 5 ms.
     */
    public static final Duration LINGER = Duration.ofMillis(50);
    /** A partition's batch leaves once this full. */
    public static final int BATCH_BYTES = 64 * 1024;
    /**
     * Bytes of events a producer of ours holds unacknowledged; beyond it events stay in the publisher's bounded
     * queue, which then drops and counts (a Kafka away for the whole delivery timeout at 10,000 events a second
     * would otherwise hold hundreds of MiB).
     */
    public static final int HELD_BYTES_MAX = 4 * 1024 * 1024;
    public KafkaSettings {
        bootstrapServers = bootstrapServers == null ? "" : bootstrapServers.trim();
        if (queueCapacity < 1) {
            throw new IllegalArgumentException("queueCapacity: " + queueCapacity + " (expected: >= 1)");
        }
        if (deliveryTimeout == null || deliveryTimeout.toMillis() < 2000) {
            throw new IllegalArgumentException("deliveryTimeout: " + deliveryTimeout + " (expected: >= 2s)");
        }
    }

    /**
     * What every client of ours leaves out: pushing its own metrics to the broker (KIP-714, on by default since
     * Kafka 3.7; no broker of ours subscribes, and it brings a shaded OpenTelemetry protobuf, ~100 classes) and
     * registering each of its metrics as a JMX MBean (nothing here reads JMX; services export what they need to
     * Prometheus themselves). Both cost resident memory in every ztunnel.
     */
    public static Map<String, Object> lean() {
        return Map.of("enable.metrics.push", false, "auto.include.jmx.reporter", false);
    }

    public boolean enabled() {
        return !bootstrapServers.isEmpty();
    }

    /**
     * The settings every producer of ours starts from: byte-array keys and values, idempotent with {@code acks=all}
     * (a batch retried after a lost acknowledgement is written once, and a key's records stay in order), sends that
     * block at most a second while Kafka is away, and this record's delivery timeout.
     */
    public Properties idempotentProducer(String clientId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 1000);
        int delivery = (int) Math.min(Integer.MAX_VALUE, deliveryTimeout.toMillis());
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, delivery);
        // Kafka requires delivery.timeout >= linger + request.timeout
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Math.min(30_000, delivery - 100));
        p.putAll(lean());
        return p;
    }
}
