package io.jmesh.telemetry.aggregate;

import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/**
 * The immutable sum of the aggregates of every partition this replica owns, as last committed. Published by the
 * ingest thread after each commit and read by {@code /metrics}, the OTLP exporter and tests. Never mutate the
 * values it returns.
 */
public final class MeshTotals {

    public static final MeshTotals EMPTY = new MeshTotals(Map.of(), Map.of());

    private final Map<SeriesKey, TcpTotals> tcp;
    private final Map<SeriesKey, RequestTotals> requests;

    private MeshTotals(Map<SeriesKey, TcpTotals> tcp, Map<SeriesKey, RequestTotals> requests) {
        this.tcp = Collections.unmodifiableMap(tcp);
        this.requests = Collections.unmodifiableMap(requests);
    }

    /** Sums (deep copies of) the given aggregates. */
    public static MeshTotals of(Collection<PartitionAggregate> partitions) {
        Map<SeriesKey, TcpTotals> tcp = new HashMap<>();
        Map<SeriesKey, RequestTotals> req = new HashMap<>();
        for (PartitionAggregate p : partitions) {
            p.tcp().forEach((k, v) -> tcp.computeIfAbsent(k, x -> new TcpTotals()).add(v));
            p.requests().forEach((k, v) -> req.computeIfAbsent(k, x -> new RequestTotals()).add(v));
        }
        return new MeshTotals(tcp, req);
    }

    public Map<SeriesKey, TcpTotals> tcp() {
        return tcp;
    }

    public Map<SeriesKey, RequestTotals> requests() {
        return requests;
    }

    /** Total of connections opened over all series (for tests and logs). */
    public long connectionsOpened() {
        return tcp.values().stream().mapToLong(TcpTotals::opened).sum();
    }

    public long connectionsClosed() {
        return tcp.values().stream().mapToLong(TcpTotals::closed).sum();
    }

    public long requestCount() {
        return requests.values().stream().mapToLong(RequestTotals::requests).sum();
    }
}
