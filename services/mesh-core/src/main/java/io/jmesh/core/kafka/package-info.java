/**
 * Kafka plumbing shared by services. Starting point: {@link io.jmesh.core.kafka.EventPublisher}, which hands events
 * to an {@link io.jmesh.core.kafka.EventSink}: Kafka's Java client, or the {@code wire} package's producer.
 */
package io.jmesh.core.kafka;
