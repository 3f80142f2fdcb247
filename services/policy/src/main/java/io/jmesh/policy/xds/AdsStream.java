package io.jmesh.policy.xds;

import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.Resource;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.core.Context;
import io.vertx.core.streams.WriteStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
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
    }

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
        List<Resource> changed = new ArrayList<>();
        boolean truncated = false;
        for (Map.Entry<String, Resource> e : wanted.entrySet()) {
            if (!ts.wildcard && !ts.explicit.contains(e.getKey())) {
                continue;
            }
            if (!e.getValue().version().equals(ts.held.get(e.getKey()))) {
                if (changed.size() == maxResourcesPerResponse) {
                    truncated = true;
                    break;
                }
                changed.add(e.getValue());
            }
        }
        List<String> removed = new ArrayList<>();
        for (String name : ts.held.keySet()) {
            boolean stillWanted = wanted.containsKey(name) && (ts.wildcard || ts.explicit.contains(name));
            if (!stillWanted) {
                removed.add(name);
            }
        }
        if (changed.isEmpty() && removed.isEmpty() && ts.sentFirst) {
            return;
        }
        DeltaDiscoveryResponse.Builder resp = DeltaDiscoveryResponse.newBuilder().setTypeUrl(type)
                .setNonce(Long.toString(++nonces)).setSystemVersionInfo(state.offsets().toString())
                .addAllRemovedResources(removed);
        for (Resource r : changed) {
            resp.addResources(io.jmesh.proto.envoy.service.discovery.v3.Resource.newBuilder().setName(r.name())
                    .setVersion(r.version()).setResource(r.body()));
            ts.held.put(r.name(), r.version());
        }
        removed.forEach(ts.held::remove);
        ts.sentFirst = true;
        ts.pendingNonce = resp.getNonce();
        // the rest of a large snapshot goes out when this part is acknowledged
        ts.dirty = truncated;
        metrics.pushed(type, changed.size(), removed.size());
        out.write(resp.build());
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
