package io.jmesh.telemetry.aggregate;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The immutable committed aggregates of every partition this replica owns, kept apart per partition. Published by
 * the ingest thread after each commit and read by {@code /metrics}, the OTLP exporter and tests. Never mutate the
 * values it returns.
 *
 * <p>Why apart: one Istio series is counted on several partitions (events are keyed by source pod, and the pods of
 * one workload share its series). A partition is the unit that moves between replicas and whose series expire, so
 * a sum over partitions would go backwards whenever one of them leaves or one part of the series expires, and
 * Prometheus reads any decrease as a reset and counts all that remains again. Served per partition (label
 * {@link #PARTITION_LABEL}), a series only ever grows or disappears.
 */
public final class MeshTotals {

    /** The label naming the event topic partition a served series was counted on. Not one of Istio's. */
    public static final String PARTITION_LABEL = "partition";

    public static final MeshTotals EMPTY = new MeshTotals(List.of());

    /** A partition this replica owns, by its number in its event topic, and its aggregate. */
    public record Owned(int partition, PartitionAggregate aggregate) {}

    /** One partition's series, as committed: what is served with {@code partition="<number>"}. */
    public record Partition(String number, Map<SeriesKey, TcpTotals> tcp, Map<SeriesKey, RequestTotals> requests) {}

    private final List<Partition> partitions;
    private volatile Sums sums;

    private MeshTotals(List<Partition> partitions) {
        this.partitions = List.copyOf(partitions);
    }

    /**
     * Deep copies of the given aggregates. Those of the connection topic hold only TCP series and those of the
     * request topic only request series, so a partition number names one partition within each metric.
     */
    public static MeshTotals owned(Collection<Owned> owned) {
        List<Partition> parts = new ArrayList<>(owned.size());
        for (Owned o : owned) {
            Map<SeriesKey, TcpTotals> tcp = new HashMap<>();
            Map<SeriesKey, RequestTotals> req = new HashMap<>();
            o.aggregate().tcp().forEach((k, v) -> tcp.put(k, v.copy()));
            o.aggregate().requests().forEach((k, v) -> req.put(k, v.copy()));
            parts.add(new Partition(Integer.toString(o.partition()), Collections.unmodifiableMap(tcp),
                    Collections.unmodifiableMap(req)));
        }
        return new MeshTotals(parts);
    }

    /** Aggregates numbered by their position, as partitions 0, 1, ... of one topic (tests, tools). */
    public static MeshTotals of(List<PartitionAggregate> aggregates) {
        List<Owned> owned = new ArrayList<>(aggregates.size());
        for (int i = 0; i < aggregates.size(); i++) {
            owned.add(new Owned(i, aggregates.get(i)));
        }
        return owned(owned);
    }

    /** Each owned partition's series: what {@code /metrics} and OTLP serve. */
    public List<Partition> partitions() {
        return partitions;
    }

    /** Every TCP series summed over the owned partitions (for tests and logs, not served: see the class comment). */
    public Map<SeriesKey, TcpTotals> tcp() {
        return sums().tcp;
    }

    /** Every request series summed over the owned partitions, as {@link #tcp()}. */
    public Map<SeriesKey, RequestTotals> requests() {
        return sums().requests;
    }

    /** Total of connections opened over all series (for tests and logs). */
    public long connectionsOpened() {
        return tcp().values().stream().mapToLong(TcpTotals::opened).sum();
    }

    public long connectionsClosed() {
        return tcp().values().stream().mapToLong(TcpTotals::closed).sum();
    }

    public long requestCount() {
        return requests().values().stream().mapToLong(RequestTotals::requests).sum();
    }

    private Sums sums() {
        Sums s = sums;
        if (s == null) { // computed at most a few times over: the result is the same
            Map<SeriesKey, TcpTotals> tcp = new HashMap<>();
            Map<SeriesKey, RequestTotals> req = new HashMap<>();
            for (Partition p : partitions) {
                p.tcp().forEach((k, v) -> tcp.computeIfAbsent(k, x -> new TcpTotals()).add(v));
                p.requests().forEach((k, v) -> req.computeIfAbsent(k, x -> new RequestTotals()).add(v));
            }
            s = new Sums(Collections.unmodifiableMap(tcp), Collections.unmodifiableMap(req));
            sums = s;
        }
        return s;
    }

    private record Sums(Map<SeriesKey, TcpTotals> tcp, Map<SeriesKey, RequestTotals> requests) {}
}
