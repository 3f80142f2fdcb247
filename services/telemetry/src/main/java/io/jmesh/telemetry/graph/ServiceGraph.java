package io.jmesh.telemetry.graph;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.ServiceInfo;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import io.jmesh.telemetry.aggregate.IstioLabels;
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
import java.util.function.Consumer;

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

    // ingest thread only
    private final Map<Long, Map<EdgeKey, EdgeCounts>> pending = new HashMap<>();
    private final Map<String, GraphNode> pendingNodes = new HashMap<>();

    public ServiceGraph(Duration bucket, Duration retention) {
        this.bucketMillis = bucket.toMillis();
        this.retentionMillis = retention.toMillis();
    }

    /** The longest window a query may ask for. */
    public Duration retention() {
        return Duration.ofMillis(retentionMillis);
    }

    @Override
    public void onConnection(ConnectionEvent e, long nowMillis) {
        boolean opened = e.getKind() == ConnectionEvent.Kind.OPENED;
        boolean failed = !opened && (!e.getResponseFlags().isEmpty() || !e.getError().isEmpty());
        long sent = e.getBytesSent();
        long received = e.getBytesReceived();
        SecurityPolicy security = e.getSecurityPolicy();
        route(e.getSource(), e.getDestination(), e.getDestinationService(), IstioLabels.reporter(e.getReporter()),
                nowMillis, c -> {
                    if (opened) {
                        c.connections++;
                    }
                    if (failed) {
                        c.connectionErrors++;
                    }
                    c.sentBytes += sent;
                    c.receivedBytes += received;
                    countSecurity(c, security);
                });
    }

    @Override
    public void onRequest(RequestEvent e, long nowMillis) {
        int code = e.getResponseCode();
        boolean grpcFailed = e.getProtocol() == RequestEvent.Protocol.GRPC && e.hasGrpcStatus() && e.getGrpcStatus() != 0;
        boolean failed = code == 0 || code >= 500 || grpcFailed;
        long req = e.getRequestBytes();
        long resp = e.getResponseBytes();
        SecurityPolicy security = e.getSecurityPolicy();
        route(e.getSource(), e.getDestination(), e.getDestinationService(), IstioLabels.reporter(e.getReporter()),
                nowMillis, c -> {
                    c.requests++;
                    if (failed) {
                        c.requestErrors++;
                    }
                    c.requestBytes += req;
                    c.responseBytes += resp;
                    countSecurity(c, security);
                });
    }

    @Override
    public void committed(long nowMillis) {
        State old = state;
        long cutoff = nowMillis - retentionMillis - bucketMillis;
        if (pending.isEmpty() && (old.buckets().isEmpty() || old.buckets().firstKey() >= cutoff)) {
            return;
        }
        TreeMap<Long, Map<EdgeKey, EdgeCounts>> buckets = new TreeMap<>(old.buckets().tailMap(cutoff, true));
        for (Map.Entry<Long, Map<EdgeKey, EdgeCounts>> p : pending.entrySet()) {
            if (p.getKey() < cutoff) {
                continue;
            }
            Map<EdgeKey, EdgeCounts> merged = new HashMap<>(buckets.getOrDefault(p.getKey(), Map.of()));
            p.getValue().forEach((k, delta) -> merged.merge(k, delta, (a, b) -> a.copy().add(b)));
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
        state = new State(buckets, Map.copyOf(nodes));
    }

    @Override
    public void aborted() {
        pending.clear();
        pendingNodes.clear();
    }

    /** The graph over the {@code window} that ends at {@code nowMillis}. Safe from any thread. */
    public Graph query(Duration window, long nowMillis) {
        State s = state;
        long from = nowMillis - window.toMillis();
        Map<EdgeKey, EdgeCounts> sums = new HashMap<>();
        for (Map<EdgeKey, EdgeCounts> bucket : s.buckets().tailMap(from - bucketMillis, false).values()) {
            bucket.forEach((k, c) -> sums.computeIfAbsent(k, x -> new EdgeCounts()).add(c));
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
            EdgeCounts c = sums.get(k);
            double errorRate = c.hasRequests() ? (double) c.requestErrors / c.requests
                    : c.connections > 0 ? (double) c.connectionErrors / c.connections : 0;
            String security = c.mutualTls > 0 && c.plaintext > 0 ? "mixed"
                    : c.mutualTls > 0 ? "mutual_tls" : c.plaintext > 0 ? "none" : "unknown";
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

    private static GraphNode node(State s, String id) {
        Seen seen = s.nodes().get(id);
        return seen != null ? seen.node() : new GraphNode(id, "unknown", id, "", "", "");
    }

    private static int rank(String reporter) {
        int i = REPORTER_PREFERENCE.indexOf(reporter);
        return i < 0 ? REPORTER_PREFERENCE.size() : i;
    }

    private void route(WorkloadInfo src, WorkloadInfo dst, ServiceInfo svc, String reporter, long nowMillis,
            Consumer<EdgeCounts> count) {
        long bucket = nowMillis - Math.floorMod(nowMillis, bucketMillis);
        Map<EdgeKey, EdgeCounts> b = pending.computeIfAbsent(bucket, x -> new HashMap<>());
        String from = workloadNode(src);
        String to = workloadNode(dst);
        if (!svc.getHostname().isEmpty()) {
            String service = "service:" + svc.getHostname();
            pendingNodes.computeIfAbsent(service, id -> new GraphNode(id, "service", svc.getHostname(),
                    svc.getNamespace(), svc.getName(), ""));
            count.accept(b.computeIfAbsent(new EdgeKey(from, service, reporter), x -> new EdgeCounts()));
            if (!to.equals(GraphNode.UNKNOWN.id())) {
                count.accept(b.computeIfAbsent(new EdgeKey(service, to, reporter), x -> new EdgeCounts()));
            }
        } else {
            count.accept(b.computeIfAbsent(new EdgeKey(from, to, reporter), x -> new EdgeCounts()));
        }
    }

    private String workloadNode(WorkloadInfo w) {
        if (w.getWorkloadName().isEmpty()) {
            pendingNodes.putIfAbsent(GraphNode.UNKNOWN.id(), GraphNode.UNKNOWN);
            return GraphNode.UNKNOWN.id();
        }
        String id = "workload:" + w.getNamespace() + "/" + w.getWorkloadName();
        pendingNodes.computeIfAbsent(id, x -> new GraphNode(x, "workload", w.getWorkloadName(), w.getNamespace(),
                w.getApp(), w.getVersion()));
        return id;
    }

    private static void countSecurity(EdgeCounts c, SecurityPolicy p) {
        if (p == SecurityPolicy.MUTUAL_TLS) {
            c.mutualTls++;
        } else if (p == SecurityPolicy.NONE) {
            c.plaintext++;
        }
    }
}
