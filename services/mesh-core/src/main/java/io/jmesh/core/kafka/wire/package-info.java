/**
 * A small idempotent Kafka producer speaking the wire protocol directly, for processes whose footprint matters
 * (ztunnel). Starting point: {@link io.jmesh.core.kafka.wire.WireProducer}.
 */
package io.jmesh.core.kafka.wire;
