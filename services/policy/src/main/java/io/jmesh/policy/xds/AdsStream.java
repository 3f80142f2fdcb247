package io.jmesh.policy.xds;

import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.Resource;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.core.Context;
import io.vertx.core.streams.WriteStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ztunnel's delta ADS stream. All methods run on the stream's event loop.
 *
 * <p>Per type URL the stream keeps what the client holds (name → version: its {@code initial_resource_versions}
 * on (re)connect, then everything sent), and computes each response as the difference between what the node
 * needs in the newest state and what it holds, so a reconnecting client receives only diffs. At most one
 * response per type is unacknowledged; changes arriving meanwhile are coalesced into the next diff, so a slow
 * client costs one pending flag, never a queue. A NACK is reported (log, metric) and not retried: the client
 * applied the rest, and a rejected resource is sent again only when its content changes.
 */
final class AdsStream {

    private static final Logger log = LoggerFactory.getLogger(AdsStream.class);

    /** Per type URL state. */
    private static final class TypeState {
        final Map<String, String> held = new HashMap<>();
        final Set<String> explicit = new HashSet<>();
        boolean wildcard;
        boolean subscribed;
        boolean sentFirst;
        String pendingNonce;
        boolean dirty;
        // the state generation the client is known to hold in full (wildcard Address only); -1: unknown
        long syncedGeneration = -1;
        // resume point of a full pass split across responses, and the generation the pass started at
        String cursor;
        long passStart;
    }

    /** Bytes a response aims to stay under. */
    static final int MAX_RESPONSE_BYTES = 200 * 1024;

    private final Context context;
    private final WriteStream<DeltaDiscoveryResponse> out;
    private final String node;
    private final AdsMetrics metrics;
    private final int maxResourcesPerResponse;
    private final Map<String, TypeState> types = new HashMap<>();
    private MeshState state;
    private long nonces;
    private boolean closed;

    AdsStream(Context context, WriteStream<DeltaDiscoveryResponse> out, String node, MeshState state,
            AdsMetrics metrics, int maxResourcesPerResponse) {
        this.context = context;
        this.out = out;
        this.node = node;
        this.state = state;
        this.metrics = metrics;
        this.maxResourcesPerResponse = maxResourcesPerResponse;
        out.drainHandler(v -> pushAll());
    }

    String node() {
        return node;
    }

    Context context() {
        return context;
    }

    void onRequest(DeltaDiscoveryRequest req) {
        String type = req.getTypeUrl();
        TypeState ts = types.computeIfAbsent(type, t -> new TypeState());
        if (!ts.subscribed) {
            ts.subscribed = true;
            ts.held.putAll(req.getInitialResourceVersionsMap());
            // an initial request without names is a wildcard subscription
            ts.wildcard = req.getResourceNamesSubscribeCount() == 0;
        }
        if (!req.getResponseNonce().isEmpty()) {
            if (!req.getResponseNonce().equals(ts.pendingNonce)) {
                return; // stale: superseded by a newer response
            }
            ts.pendingNonce = null;
            if (req.hasErrorDetail()) {
                metrics.nack(type);
                log.atWarn().addKeyValue("node", node).addKeyValue("type", type)
                        .addKeyValue("nonce", req.getResponseNonce())
                        .log("ztunnel rejected resources: {}", req.getErrorDetail().getMessage());
            } else {
                metrics.ack(type);
            }
            metrics.acked(node, type, req.getResponseNonce(), !req.hasErrorDetail());
        }
        if (req.getResourceNamesSubscribeCount() + req.getResourceNamesUnsubscribeCount() > 0) {
            ts.syncedGeneration = -1; // the subscription changed: diff everything once
            ts.cursor = null;
        }
        for (String name : req.getResourceNamesSubscribeList()) {
            if ("*".equals(name)) {
                ts.wildcard = true;
            } else {
                ts.explicit.add(name);
            }
        }
        for (String name : req.getResourceNamesUnsubscribeList()) {
            if ("*".equals(name)) {
                ts.wildcard = false;
            } else {
                ts.explicit.remove(name);
            }
        }
        push(type, ts);
    }

    /** A new state: send each type's diff (or mark it dirty while a response is unacknowledged). */
    void onState(MeshState next) {
        state = next;
        pushAll();
    }

    private void pushAll() {
        types.forEach(this::push);
    }

    private void push(String type, TypeState ts) {
        if (closed || !ts.subscribed) {
            return;
        }
        if (ts.pendingNonce != null || out.writeQueueFull()) {
            ts.dirty = true;
            return;
        }
        ts.dirty = false;
        Map<String, Resource> wanted = state.resourcesFor(type, node);
        Budget budget = new Budget(maxResourcesPerResponse);
        List<String> removed = new ArrayList<>();
        Set<String> delta = ts.wildcard && ts.cursor == null && ts.syncedGeneration >= 0
                && TypeUrls.ADDRESS.equals(type) ? state.addressesChangedSince(ts.syncedGeneration) : null;
        boolean complete;
        long syncedTo;
        if (delta != null) {
            complete = diffNames(delta, wanted, ts, budget, removed);
            syncedTo = state.generation();
        } else {
            if (ts.cursor == null) {
                ts.passStart = state.generation();
            }
            complete = diffAll(wanted, ts, budget, removed);
            // changes during a multi-part pass are caught by the next delta from where the pass began
            syncedTo = ts.passStart;
        }
        if (complete) {
            ts.syncedGeneration = syncedTo;
        }
        if (budget.resources.isEmpty() && removed.isEmpty() && ts.sentFirst) {
            return;
        }
        DeltaDiscoveryResponse.Builder resp = DeltaDiscoveryResponse.newBuilder().setTypeUrl(type)
                .setNonce(Long.toString(++nonces)).setSystemVersionInfo(Long.toString(state.generation()))
                .addAllRemovedResources(removed);
        for (Resource r : budget.resources) {
            resp.addResources(io.jmesh.proto.envoy.service.discovery.v3.Resource.newBuilder().setName(r.name())
                    .setVersion(r.version()).setResource(r.body()));
            ts.held.put(r.name(), r.version());
        }
        removed.forEach(ts.held::remove);
        ts.sentFirst = true;
        ts.pendingNonce = resp.getNonce();
        // the rest goes out when this part is acknowledged
        ts.dirty = !complete;
        metrics.pushed(type, budget.resources.size(), removed.size());
        out.write(resp.build());
    }

    /** Diffs only {@code names} (what changed since the stream was last in sync). */
    private boolean diffNames(Set<String> names, Map<String, Resource> wanted, TypeState ts, Budget budget,
            List<String> removed) {
        for (String name : names) {
            Resource r = wanted.get(name);
            if (r == null) {
                if (ts.held.containsKey(name)) {
                    removed.add(name);
                }
            } else if (!r.version().equals(ts.held.get(name)) && !budget.add(r)) {
                return false; // the rest of this delta is diffed again next time
            }
        }
        return true;
    }

    /** Diffs everything, resuming after {@code ts.cursor} in a sorted map; removals once the pass is through. */
    private boolean diffAll(Map<String, Resource> wanted, TypeState ts, Budget budget, List<String> removed) {
        Map<String, Resource> view = wanted instanceof NavigableMap<String, Resource> sorted && ts.cursor != null
                ? sorted.tailMap(ts.cursor, false) : wanted;
        for (Map.Entry<String, Resource> e : view.entrySet()) {
            if (!ts.wildcard && !ts.explicit.contains(e.getKey())) {
                continue;
            }
            if (!e.getValue().version().equals(ts.held.get(e.getKey())) && !budget.add(e.getValue())) {
                ts.cursor = wanted instanceof NavigableMap ? budget.last() : null;
                return false;
            }
        }
        ts.cursor = null;
        for (String name : ts.held.keySet()) {
            if (!wanted.containsKey(name) || (!ts.wildcard && !ts.explicit.contains(name))) {
                removed.add(name);
            }
        }
        return true;
    }

    /**
     * What one response may carry: at most {@code maxResources}, and about {@value #MAX_RESPONSE_BYTES} bytes
     * (gRPC clients refuse messages over 256 KiB by default); a single larger resource still goes alone.
     */
    private static final class Budget {
        final List<Resource> resources = new ArrayList<>();
        final int maxResources;
        long bytes;

        Budget(int maxResources) {
            this.maxResources = maxResources;
        }

        boolean add(Resource r) {
            long size = r.body().getSerializedSize() + r.name().length() + r.version().length() + 16L;
            if (!resources.isEmpty() && (resources.size() >= maxResources || bytes + size > MAX_RESPONSE_BYTES)) {
                return false;
            }
            resources.add(r);
            bytes += size;
            return true;
        }

        String last() {
            return resources.isEmpty() ? null : resources.get(resources.size() - 1).name();
        }
    }

    /** Whether a response of {@code type} awaits its ACK or more is queued (tests, benchmarks). */
    boolean settled(String type) {
        TypeState ts = types.get(type);
        return ts != null && ts.pendingNonce == null && !ts.dirty;
    }

    void close() {
        closed = true;
    }
}
