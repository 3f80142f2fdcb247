package io.jmesh.core.kafka;

import java.time.Duration;

/**
 * How a service reaches Kafka.
 *
 * @param bootstrapServers comma-separated {@code host:port} list; empty disables Kafka (events are dropped and
 *     counted, nothing else changes)
 * @param queueCapacity events buffered while Kafka is slow or away; beyond it new events are dropped
 * @param deliveryTimeout how long the producer keeps retrying one batch before giving it up
 */
public record KafkaSettings(String bootstrapServers, int queueCapacity, Duration deliveryTimeout) {
    public KafkaSettings {
        bootstrapServers = bootstrapServers == null ? "" : bootstrapServers.trim();
        if (queueCapacity < 1) {
            throw new IllegalArgumentException("queueCapacity: " + queueCapacity + " (expected: >= 1)");
        }
        if (deliveryTimeout == null || deliveryTimeout.toMillis() < 2000) {
            throw new IllegalArgumentException("deliveryTimeout: " + deliveryTimeout + " (expected: >= 2s)");
        }
    }

    public boolean enabled() {
        return !bootstrapServers.isEmpty();
    }
}
