package io.jmesh.telemetry.graph;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.aggregate.ConnectionBytes;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.jmesh.telemetry.ingest.IngestListener;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * Traffic between workloads and services in time buckets, queried over a sliding window.
 *
 * <p>The ingest thread adds what it counts to a pending set; on each commit the pending set is merged into a new
 * immutable {@link State} (copy on write) that queries read without locks; on an abort it is discarded, since
 * the same records will be delivered again. Buckets older than the retention are dropped at each commit.
 *
 * <p>Each connection or request is reported by up to three proxies (source, destination, waypoint). Every edge
 * keeps their figures apart and a query uses one reporter per edge (waypoint, else destination, else source), so
 * nothing is counted twice. With several telemetry replicas each one sees the partitions it owns: since events
 * are keyed by source workload, a replica sees every outgoing edge of the sources it owns (see docs/telemetry.md).
 */
public final class ServiceGraph implements IngestListener {

    private static final List<String> REPORTER_PREFERENCE = List.of("waypoint", "destination", "source");

    private record EdgeKey(String source, String target, String reporter) {}

    private record Seen(GraphNode node, long lastSeenMillis) {}

    /** Published state: buckets by start time and the nodes seen within the retention. Never mutated. */
    private record State(NavigableMap<Long, Map<EdgeKey, EdgeCounts>> buckets, Map<String, Seen> nodes) {}

    private final long bucketMillis;
    private final long retentionMillis;
    private volatile State state = new State(new TreeMap<>(), Map.of());

    // label positions, the same in IstioLabels.TCP and IstioLabels.REQUEST
    private static final int REPORTER = IstioLabels.TCP.indexOf("reporter");
    private static final int SRC_WORKLOAD = IstioLabels.TCP.indexOf("source_workload");
    private static final int SRC_NAMESPACE = IstioLabels.TCP.indexOf("source_workload_namespace");
    private static final int SRC_APP = IstioLabels.TCP.indexOf("source_app");
    private static final int SRC_VERSION = IstioLabels.TCP.indexOf("source_version");
    private static final int DST_SERVICE = IstioLabels.TCP.indexOf("destination_service");
    private static final int DST_SERVICE_NAME = IstioLabels.TCP.indexOf("destination_service_name");
    private static final int DST_SERVICE_NAMESPACE = IstioLabels.TCP.indexOf("destination_service_namespace");
    private static final int DST_WORKLOAD = IstioLabels.TCP.indexOf("destination_workload");
    private static final int DST_NAMESPACE = IstioLabels.TCP.indexOf("destination_workload_namespace");
    private static final int DST_APP = IstioLabels.TCP.indexOf("destination_app");
    private static final int DST_VERSION = IstioLabels.TCP.indexOf("destination_version");
    private static final int PROTOCOL = IstioLabels.TCP.indexOf("request_protocol");
    private static final int FLAGS = IstioLabels.TCP.indexOf("response_flags");
    private static final int SECURITY = IstioLabels.TCP.indexOf("connection_security_policy");
    private static final int RESPONSE_CODE = IstioLabels.REQUEST.indexOf("response_code");
    private static final int GRPC_STATUS = IstioLabels.REQUEST.indexOf("grpc_response_status");

    /** What the events of one series added in one bucket since the last commit. */
    private static final class SeriesDelta {
        long events;
        long closed;
        /** Connection events of any kind: what says the series' security policy was seen in the bucket. */
        long reports;
        long sentBytes;
        long receivedBytes;
        long requestBytes;
        long responseBytes;
    }

    private static final class PendingBucket {
        final Map<SeriesKey, SeriesDelta> tcp = new HashMap<>();
        final Map<SeriesKey, SeriesDelta> requests = new HashMap<>();
    }

    // ingest thread only: per event one lookup by the series key the aggregate already hashed; edges and
    // nodes are derived from the series' labels once per commit
    private final Map<Long, PendingBucket> pending = new HashMap<>();
    private final Map<String, GraphNode> pendingNodes = new HashMap<>();
    private PendingBucket current;
    private long currentStart;

    public ServiceGraph(Duration bucket, Duration retention) {
        this.bucketMillis = bucket.toMillis();
        this.retentionMillis = retention.toMillis();
    }

    /** The longest window a query may ask for. */
    public Duration retention() {
        return Duration.ofMillis(retentionMillis);
    }

    @Override
    public void onConnection(ConnectionEvent e, SeriesKey series, long nowMillis) {
        SeriesDelta d = pendingBucket(nowMillis).tcp.computeIfAbsent(series, k -> new SeriesDelta());
        d.reports++;
        if (e.getKind() == ConnectionEvent.Kind.OPENED) {
            d.events++;
        } else if (e.getKind() == ConnectionEvent.Kind.CLOSED) {
            d.closed++;
            if (e.getOpenedDropped()) {
                d.events++; // its OPENED never came: the close is the connection's only report
            }
        }
        // a PROGRESS carries the bytes since the last one, a CLOSED the rest (ConnectionBytes)
        d.sentBytes += ConnectionBytes.sent(e);
        d.receivedBytes += ConnectionBytes.received(e);
    }

    @Override
    public void onRequest(RequestEvent e, SeriesKey series, long nowMillis) {
        SeriesDelta d = pendingBucket(nowMillis).requests.computeIfAbsent(series, k -> new SeriesDelta());
        d.events++;
        d.requestBytes += e.getRequestBytes();
        d.responseBytes += e.getResponseBytes();
    }

    @Override
    public void committed(long nowMillis) {
        State old = state;
        long cutoff = nowMillis - retentionMillis - bucketMillis;
        if (pending.isEmpty() && (old.buckets().isEmpty() || old.buckets().firstKey() >= cutoff)) {
            return;
        }
        TreeMap<Long, Map<EdgeKey, EdgeCounts>> buckets = new TreeMap<>(old.buckets().tailMap(cutoff, true));
        for (Map.Entry<Long, PendingBucket> p : pending.entrySet()) {
            if (p.getKey() < cutoff) {
                continue;
            }
            Map<EdgeKey, EdgeCounts> deltas = new HashMap<>();
            p.getValue().tcp.forEach((series, d) -> route(series, tcpCounts(series, d), deltas));
            p.getValue().requests.forEach((series, d) -> route(series, requestCounts(series, d), deltas));
            Map<EdgeKey, EdgeCounts> merged = new HashMap<>(buckets.getOrDefault(p.getKey(), Map.of()));
            deltas.forEach((k, delta) -> merged.merge(k, delta, (x, y) -> x.copy().add(y)));
            buckets.put(p.getKey(), Map.copyOf(merged));
        }
        Map<String, Seen> nodes = new HashMap<>();
        old.nodes().forEach((id, seen) -> {
            if (seen.lastSeenMillis() >= cutoff) {
                nodes.put(id, seen);
            }
        });
        pendingNodes.forEach((id, n) -> nodes.put(id, new Seen(n, nowMillis)));
        pending.clear();
        pendingNodes.clear();
        current = null;
        state = new State(buckets, Map.copyOf(nodes));
    }

    @Override
    public void aborted() {
        pending.clear();
        pendingNodes.clear();
        current = null;
    }

    /** The graph over the {@code window} that ends at {@code nowMillis}. Safe from any thread. */
    public Graph query(Duration window, long nowMillis) {
        State s = state;
        long from = nowMillis - window.toMillis();
        Map<EdgeKey, WindowCounts> sums = new HashMap<>();
        for (Map.Entry<Long, Map<EdgeKey, EdgeCounts>> bucket : s.buckets().tailMap(from - bucketMillis, false)
                .entrySet()) {
            double share = share(bucket.getKey(), from, nowMillis);
            if (share > 0) {
                bucket.getValue().forEach((k, c) -> sums.computeIfAbsent(k, x -> new WindowCounts()).add(c, share));
            }
        }
        // one reporter per edge
        Map<List<String>, EdgeKey> chosen = new HashMap<>();
        for (EdgeKey k : sums.keySet()) {
            List<String> pair = List.of(k.source(), k.target());
            EdgeKey current = chosen.get(pair);
            if (current == null || rank(k.reporter()) < rank(current.reporter())) {
                chosen.put(pair, k);
            }
        }
        double seconds = Math.max(1e-3, window.toMillis() / 1000.0);
        List<GraphEdge> edges = new ArrayList<>();
        Map<String, GraphNode> nodes = new HashMap<>();
        for (EdgeKey k : chosen.values()) {
            WindowCounts c = sums.get(k);
            double errorRate = c.hasRequests() ? c.requestErrors / c.requests
                    : c.connectionsClosed > 0 ? c.connectionErrors / c.connectionsClosed : 0;
            String security = c.mutualTls > 0 && c.notMutualTls > 0 ? "mixed"
                    : c.mutualTls > 0 ? "mutual_tls" : IstioLabels.UNKNOWN;
            edges.add(new GraphEdge(k.source(), k.target(), c.hasRequests() ? "http" : "tcp",
                    c.requests / seconds, errorRate, c.requestBytes / seconds, c.responseBytes / seconds,
                    c.connections / seconds, c.sentBytes / seconds, c.receivedBytes / seconds, security, k.reporter()));
            nodes.put(k.source(), node(s, k.source()));
            nodes.put(k.target(), node(s, k.target()));
        }
        edges.sort(Comparator.comparing(GraphEdge::source).thenComparing(GraphEdge::target));
        List<GraphNode> nodeList = new ArrayList<>(nodes.values());
        nodeList.sort(Comparator.comparing(GraphNode::id));
        return new Graph(window, Instant.ofEpochMilli(nowMillis), List.copyOf(nodeList), List.copyOf(edges));
    }

    /**
     * The part of a bucket's counts that falls in the window {@code [from, now]}, taking its events as spread
     * evenly over the time it covers: {@code [start, start + bucket)}, or up to now for the bucket in progress.
     * Counting a bucket the window only touches in full would overstate the rate by up to a bucket's worth
     * (twice the real rate for a window of one bucket).
     */
    private double share(long start, long from, long now) {
        long end = Math.min(start + bucketMillis, now);
        if (end <= start) {
            return start == now && start >= from ? 1 : 0; // the bucket began at the very instant of now
        }
        long inWindow = end - Math.max(start, from);
        return inWindow <= 0 ? 0 : (double) inWindow / (end - start);
    }

    private static GraphNode node(State s, String id) {
        Seen seen = s.nodes().get(id);
        return seen != null ? seen.node() : new GraphNode(id, "unknown", id, "", "", "");
    }

    private static int rank(String reporter) {
        int i = REPORTER_PREFERENCE.indexOf(reporter);
        return i < 0 ? REPORTER_PREFERENCE.size() : i;
    }

    private PendingBucket pendingBucket(long nowMillis) {
        long start = nowMillis - Math.floorMod(nowMillis, bucketMillis);
        if (current == null || currentStart != start) {
            current = pending.computeIfAbsent(start, x -> new PendingBucket());
            currentStart = start;
        }
        return current;
    }

    private static EdgeCounts tcpCounts(SeriesKey k, SeriesDelta d) {
        EdgeCounts c = new EdgeCounts();
        c.connections = d.events;
        c.connectionErrors = "-".equals(k.value(FLAGS)) ? 0 : d.closed;
        // over the connections that ended: over those opened, connections opened before the window and failing
        // in it made the rate exceed 1
        c.connectionsClosed = d.closed;
        c.sentBytes = d.sentBytes;
        c.receivedBytes = d.receivedBytes;
        // every report, PROGRESS included: a long connection opened before the window shows only through those
        countSecurity(c, k.value(SECURITY), d.reports);
        return c;
    }

    private static EdgeCounts requestCounts(SeriesKey k, SeriesDelta d) {
        EdgeCounts c = new EdgeCounts();
        c.requests = d.events;
        int code = Integer.parseInt(k.value(RESPONSE_CODE));
        String grpc = k.value(GRPC_STATUS);
        boolean grpcFailed = "grpc".equals(k.value(PROTOCOL)) && !grpc.isEmpty() && !"0".equals(grpc);
        c.requestErrors = code == 0 || code >= 500 || grpcFailed ? d.events : 0;
        c.requestBytes = d.requestBytes;
        c.responseBytes = d.responseBytes;
        countSecurity(c, k.value(SECURITY), d.events);
        return c;
    }

    /** Adds one series' counts to its edges: source → service → destination, or source → destination. */
    private void route(SeriesKey k, EdgeCounts c, Map<EdgeKey, EdgeCounts> deltas) {
        String reporter = k.value(REPORTER);
        String from = workloadNode(GraphNode.UNKNOWN, k.value(SRC_WORKLOAD), k.value(SRC_NAMESPACE),
                k.value(SRC_APP), k.value(SRC_VERSION));
        String to = workloadNode(GraphNode.UNKNOWN_DESTINATION, k.value(DST_WORKLOAD), k.value(DST_NAMESPACE),
                k.value(DST_APP), k.value(DST_VERSION));
        String host = k.value(DST_SERVICE);
        if (!IstioLabels.UNKNOWN.equals(host)) {
            String service = "service:" + host;
            pendingNodes.computeIfAbsent(service, id -> new GraphNode(id, "service", host,
                    known(k.value(DST_SERVICE_NAMESPACE)), known(k.value(DST_SERVICE_NAME)), ""));
            deltas.merge(new EdgeKey(from, service, reporter), c, (x, y) -> x.copy().add(y));
            if (!to.equals(GraphNode.UNKNOWN_DESTINATION.id())) {
                deltas.merge(new EdgeKey(service, to, reporter), c.copy(), (x, y) -> x.copy().add(y));
            }
        } else {
            deltas.merge(new EdgeKey(from, to, reporter), c, (x, y) -> x.copy().add(y));
        }
    }

    private String workloadNode(GraphNode ifUnknown, String workload, String namespace, String app, String version) {
        if (IstioLabels.UNKNOWN.equals(workload)) {
            pendingNodes.putIfAbsent(ifUnknown.id(), ifUnknown);
            return ifUnknown.id();
        }
        String id = "workload:" + namespace + "/" + workload;
        pendingNodes.computeIfAbsent(id, x -> new GraphNode(x, "workload", workload, known(namespace), known(app),
                known(version)));
        return id;
    }

    private static String known(String labelValue) {
        return IstioLabels.UNKNOWN.equals(labelValue) ? "" : labelValue;
    }

    private static void countSecurity(EdgeCounts c, String policy, long n) {
        // Istio's words: mutual_tls, else unknown (plaintext, or a reporter that cannot tell; "none" in a
        // checkpoint written before the label followed Istio)
        if ("mutual_tls".equals(policy)) {
            c.mutualTls += n;
        } else {
            c.notMutualTls += n;
        }
    }
}
