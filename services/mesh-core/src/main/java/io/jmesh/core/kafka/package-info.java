/** Kafka plumbing shared by services. Starting point: {@link io.jmesh.core.kafka.EventPublisher}. */
package io.jmesh.core.kafka;
