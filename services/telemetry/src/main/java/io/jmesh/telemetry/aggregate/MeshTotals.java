package io.jmesh.telemetry.aggregate;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

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

    /** One served series: the number of the partition it was counted on, its Istio label values, its totals. */
    public record Served<T>(String partition, SeriesKey key, T totals) {}

    private final List<Partition> partitions;
    private volatile Sums sums;
    private volatile List<Served<TcpTotals>> tcpInOrder;
    private volatile List<Served<RequestTotals>> requestsInOrder;

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

    /**
     * Every partition's TCP series in exposition order ({@link ServedLabels#TCP}), as {@code /metrics} writes them.
     * Sorted at the first call and kept with these totals (a small object per series): every family and every
     * scrape of these totals then reads it without copying anything.
     */
    public List<Served<TcpTotals>> tcpInExpositionOrder() {
        List<Served<TcpTotals>> s = tcpInOrder;
        if (s == null) { // sorted at most a few times over by concurrent scrapes: the result is the same
            s = inOrder(Partition::tcp, ServedLabels.TCP);
            tcpInOrder = s;
        }
        return s;
    }

    /**
     * Every partition's request series in exposition order ({@link ServedLabels#REQUEST}), as
     * {@link #tcpInExpositionOrder()}.
     */
    public List<Served<RequestTotals>> requestsInExpositionOrder() {
        List<Served<RequestTotals>> s = requestsInOrder;
        if (s == null) {
            s = inOrder(Partition::requests, ServedLabels.REQUEST);
            requestsInOrder = s;
        }
        return s;
    }

    private <T> List<Served<T>> inOrder(Function<Partition, Map<SeriesKey, T>> series, ServedLabels labels) {
        int n = 0;
        for (Partition p : partitions) {
            n += series.apply(p).size();
        }
        List<Served<T>> all = new ArrayList<>(n);
        for (Partition p : partitions) {
            series.apply(p).forEach((k, v) -> all.add(new Served<>(p.number(), k, v)));
        }
        all.sort(labels.order());
        return Collections.unmodifiableList(all);
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
