package io.jmesh.telemetry.aggregate;

/**
 * What one {@link PartitionAggregate#expire} removed.
 *
 * @param series every series removed
 * @param withOpenConnections of those, series that still had connections open: their CLOSED was never seen
 *     (lost with a crashed reporter, or never published) within the longer bound
 */
public record Expired(int series, int withOpenConnections) {

    public static final Expired NONE = new Expired(0, 0);
}
