/**
 * Aggregation of telemetry events into Istio's metric series. Starting points:
 * {@link io.jmesh.telemetry.aggregate.PartitionAggregate} (what one Kafka partition has counted, checkpointed with
 * its offset) and {@link io.jmesh.telemetry.aggregate.MeshTotals} (the immutable merged view that is exposed).
 */
package io.jmesh.telemetry.aggregate;
