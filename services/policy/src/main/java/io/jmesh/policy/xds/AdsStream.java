package io.jmesh.policy.xds;

import io.jmesh.core.net.IpLiteral;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.Resource;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.core.Context;
import io.vertx.core.streams.WriteStream;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ztunnel's delta ADS stream. All methods run on the stream's event loop.
 *
 * <p>Each response is the difference between what the node needs in the newest state and what the client holds:
 * its {@code initial_resource_versions} on (re)connect, then what was sent. A reconnecting client therefore
 * receives only diffs. At most one response per type is unacknowledged; changes arriving meanwhile are coalesced
 * into the next diff, so a slow client costs a flag, never a queue. A NACK is reported (log, metric) and not
 * retried: the client applied the rest, and a rejected resource is sent again only when its content changes.
 *
 * <p>Wildcard {@code Address} subscriptions (every address: the big one) keep no per-resource bookkeeping once in
 * sync: the client is known to hold some earlier state, and the diff is the set of addresses that changed since
 * that state (removals of names the client may not hold are harmless in delta xDS). Until then, a full pass walks
 * the sorted addresses in parts of at most {@code maxResourcesPerResponse} resources and about
 * {@value #MAX_RESPONSE_BYTES} bytes, each after the previous ACK. Authorization and explicit subscriptions are
 * small and track name → version.
 *
 * <p>A non-wildcard {@code Address} subscription is on demand (Istio's {@code XDS_ON_DEMAND}): each subscribed name
 * is a canonical name (a workload's uid, a service's {@code namespace/hostname}) or an alias {@code network/IP}
 * ({@link XdsTypes#ipAlias}) naming every workload address and service VIP at that IP. The matching addresses are
 * sent under their canonical names, each listing in {@code aliases} the subscribed aliases it matches (a service
 * with the workloads it selects, as istiod's lookup answers), and kept up to date while a subscribed name matches
 * them; one no name matches any more is removed. A name subscribed that
 * matches nothing stays subscribed (a matching address appearing later is pushed) and is listed in that request's
 * response's {@code removed_resources} (xDS: "does not exist"). Every request that subscribes gets a response, and
 * it names every name just subscribed, as a resource (sent again even if the client holds it as it is) or as
 * removed: a client waits for the response naming what it asked for. A name that cannot name anything (see {@link #wellFormed}) is ignored, counted and logged at debug.
 *
 * <p>Aliases {@code network/IP} are looked up in the state's index ({@link MeshState#addressNamesAt}). When a state
 * lacks it, the diff waits (the type stays dirty, what was subscribed stays pending) while a worker builds it, then
 * runs on this loop again: no event loop builds the index or waits for it.
 */
final class AdsStream {

    private static final Logger log = LoggerFactory.getLogger(AdsStream.class);

    /** Bytes a response aims to stay under (gRPC clients refuse messages over 256 KiB by default). */
    static final int MAX_RESPONSE_BYTES = 200 * 1024;

    /** Longest resource name or alias a subscription may use (a uid is well under 512 characters). */
    static final int MAX_NAME_LENGTH = 1024;

    /**
     * Most names one stream may subscribe per type: an on-demand ztunnel subscribes one per address its traffic
     * missed (it stops at 100,000 itself); more are ignored and counted, so no client grows the server's memory
     * without bound.
     */
    static final int MAX_NAMES = 200_000;

    private int maxNames = MAX_NAMES;
    private boolean overLimitLogged;
    private boolean unknownTypeLogged;
    private final UnservedTypes unserved = new UnservedTypes();

    /** An alias {@code network/IP}, parsed once when subscribed. */
    private record IpAlias(String network, InetAddress ip) {}

    /** Per type URL state. */
    private static final class TypeState {
        final Set<String> explicit = new HashSet<>();
        // the explicit names that are network/IP aliases (Address), parsed
        final Map<String, IpAlias> ipAliases = new HashMap<>();
        // names subscribed since the last complete response: the next one says which of them match nothing
        final Set<String> requested = new HashSet<>();
        // a request subscribed names: its response goes out even if empty (the client waits for it)
        boolean mustRespond;
        // Authorization: policies left the node's scope but still exist; removed once Address has caught up
        boolean scopeRemovalsWaiting;
        boolean wildcard;
        boolean subscribed;
        boolean sentFirst;
        // a response completing the first pass went out; then its ACK (or NACK) came: the initial sync is through
        boolean firstPassSent;
        boolean initialSynced;
        String pendingNonce;
        boolean dirty;
        // name -> version the client holds: all of it in tracking mode; in snapshot mode only the client's
        // initial_resource_versions until the first full pass is through (then null)
        Map<String, String> held = new HashMap<>();
        // snapshot mode: a state whose addresses the client holds (at least), null until a full pass completes
        MeshState synced;
        // snapshot mode: what the client held when a full pass began without `held` (it fell out of a delta)
        Map<String, Resource> heldView;
        // resume point of a full pass split across responses, and the state it began at
        String cursor;
        MeshState passStart;
        // a full pass walks the newest state at each part: what it sent that `passStart` lacks
        Set<String> passSentBeyondStart = new HashSet<>();
        // snapshot mode: names the client may hold that `synced` (or `heldView`) lacks, at an unknown version (what
        // a full pass sent from states after the one it began at). The delta since `synced` covers them; a full
        // pass from `synced` must not forget them
        Set<String> beyondSynced = Set.of();
    }

    private final Context context;
    private final WriteStream<DeltaDiscoveryResponse> out;
    private final String node;
    private final AdsMetrics metrics;
    private final int maxResourcesPerResponse;
    private final Map<String, TypeState> types = new HashMap<>();
    private MeshState state;
    // the state whose Address diff last went out whole: until it is the current one, a workload that left this node
    // may still be local to the client, so the policies it needed stay
    private MeshState addressSentFor;
    // the state whose network/IP index this stream waits for (null: none)
    private MeshState awaitingIpIndex;
    private long nonces;
    private boolean closed;
    // told once the initial sync is through (null: told already, or nobody to tell)
    private Runnable initialSyncListener;

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

    /**
     * Runs {@code listener} once this stream's initial sync is through: it subscribed {@code Address}, and the first
     * complete configuration of every type it subscribed was acknowledged (or rejected: it was applied as far as it
     * could be). The client's {@code initial_resource_versions} of a wildcard {@code Address} subscription are no
     * longer kept by then.
     */
    void onInitialSync(Runnable listener) {
        initialSyncListener = listener;
    }

    private void tellIfInitiallySynced() {
        if (initialSyncListener == null) {
            return;
        }
        TypeState address = types.get(TypeUrls.ADDRESS);
        if (address == null) {
            return;
        }
        for (TypeState ts : types.values()) {
            if (!ts.initialSynced) {
                return;
            }
        }
        Runnable listener = initialSyncListener;
        initialSyncListener = null;
        log.atDebug().addKeyValue("node", node).log("initial sync through");
        listener.run();
    }

    /** Tests: a smaller {@link #MAX_NAMES}. */
    void limitNames(int max) {
        maxNames = max;
    }

    void onRequest(DeltaDiscoveryRequest req) {
        String type = req.getTypeUrl();
        if (!TypeUrls.ADDRESS.equals(type) && !TypeUrls.AUTHORIZATION.equals(type)) {
            // as istiod: an empty answer (so a client waiting for it goes on), no subscription state kept
            metrics.unknownType();
            if (!unknownTypeLogged) {
                unknownTypeLogged = true;
                log.atWarn().addKeyValue("node", node).log("answering requests for type_url '{}' ({} characters)"
                        + " with no resources: not served here (only {} and {})", printable(type), type.length(),
                        TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION);
            }
            if (unserved.answers(req)) {
                answerUnserved(type, UnservedTypes.removedNames(req));
            }
            return;
        }
        TypeState ts = types.computeIfAbsent(type, t -> new TypeState());
        boolean first = !ts.subscribed;
        if (first) {
            ts.subscribed = true;
            ts.held.putAll(req.getInitialResourceVersionsMap());
            // an initial request without names is a wildcard subscription
            ts.wildcard = req.getResourceNamesSubscribeCount() == 0;
            log.atInfo().addKeyValue("node", node).addKeyValue("type", type)
                    .addKeyValue("initialResources", req.getInitialResourceVersionsCount())
                    .log("subscribed");
            metrics.subscribed(node, type, req.getInitialResourceVersionsMap());
        }
        // a first request's nonce can only answer a response of an earlier stream: nothing here awaits it, and the
        // subscription is answered all the same (as istiod does)
        if (!first && !req.getResponseNonce().isEmpty()) {
            if (!req.getResponseNonce().equals(ts.pendingNonce)) {
                if (req.hasErrorDetail()) { // counted as istiod counts every NACK; it changes nothing here
                    metrics.nack(type);
                    log.atWarn().addKeyValue("node", node).addKeyValue("type", type)
                            .addKeyValue("nonce", req.getResponseNonce())
                            .log("ztunnel rejected resources of a superseded response: {}",
                                    req.getErrorDetail().getMessage());
                }
                return; // stale: superseded by a newer response
            }
            ts.pendingNonce = null;
            ts.initialSynced |= ts.firstPassSent;
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
            changeSubscription(type, req, ts);
        }
        if (first && !ts.wildcard) {
            // a non-wildcard client reconnecting (an on-demand ztunnel lists the names and aliases it asked for
            // and got): what it holds stays subscribed, as istiod reads it
            req.getInitialResourceVersionsMap().keySet().forEach(name -> subscribe(type, ts, name, false));
        }
        if (req.getResourceNamesSubscribeCount() > 0) {
            ts.mustRespond = true;
        }
        push(type, ts);
        TypeState address = types.get(TypeUrls.ADDRESS);
        if (address != null && address != ts && address.dirty) {
            push(TypeUrls.ADDRESS, address); // it may have waited behind this Authorization diff (see push)
        }
        tellIfInitiallySynced();
    }

    private void changeSubscription(String type, DeltaDiscoveryRequest req, TypeState ts) {
        if (snapshotMode(ts)) {
            // leave snapshot mode with what the client holds spelled out
            ts.held = heldVersions(ts);
            holdWhatThePassSent(ts);
            ts.synced = null;
            ts.heldView = null;
            ts.beyondSynced = Set.of();
            ts.passStart = null;
        }
        ts.cursor = null;
        for (String name : req.getResourceNamesSubscribeList()) {
            if ("*".equals(name)) {
                ts.wildcard = true;
            } else {
                subscribe(type, ts, name, true);
            }
        }
        for (String name : req.getResourceNamesUnsubscribeList()) {
            if ("*".equals(name)) {
                ts.wildcard = false;
            } else {
                ts.explicit.remove(name);
                ts.ipAliases.remove(name);
                ts.requested.remove(name);
            }
        }
    }

    private void subscribe(String type, TypeState ts, String name, boolean requested) {
        if (!wellFormed(name)) {
            metrics.invalidName(type);
            log.atDebug().addKeyValue("node", node).addKeyValue("type", type)
                    .log("ignoring subscription to '{}' ({} characters): not a resource name, network/IP or"
                            + " namespace/hostname", printable(name), name.length());
            return;
        }
        if (ts.explicit.size() >= maxNames && !ts.explicit.contains(name)) {
            metrics.nameOverLimit(type);
            if (!overLimitLogged) {
                overLimitLogged = true;
                log.atWarn().addKeyValue("node", node).addKeyValue("type", type).addKeyValue("limit", maxNames)
                        .log("stream subscribed the most names it may: further names are ignored");
            }
            return;
        }
        ts.explicit.add(name);
        if (requested) {
            ts.requested.add(name);
        }
        IpAlias alias = ipAlias(name);
        if (alias != null && TypeUrls.ADDRESS.equals(type)) {
            ts.ipAliases.put(name, alias);
        }
    }

    /**
     * Whether {@code name} can name a resource: at most {@value #MAX_NAME_LENGTH} visible ASCII characters, a
     * {@code /} after a non-empty first part (a namespace, a network, the cluster of a uid) or after nothing when
     * an IP follows (the default network), and not ending in {@code /}.
     */
    static boolean wellFormed(String name) {
        if (name.isEmpty() || name.length() > MAX_NAME_LENGTH || name.charAt(name.length() - 1) == '/') {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c <= ' ' || c > '~') {
                return false;
            }
        }
        int slash = name.indexOf('/');
        return slash > 0 || slash == 0 && ipAlias(name) != null;
    }

    /** {@code name} for a log line: at most 80 characters, anything but visible ASCII as {@code ?}. */
    private static String printable(String name) {
        StringBuilder out = new StringBuilder(Math.min(name.length(), 81));
        for (int i = 0; i < name.length() && i < 80; i++) {
            char c = name.charAt(i);
            out.append(c > ' ' && c <= '~' ? c : '?');
        }
        return name.length() > 80 ? out.append('…').toString() : out.toString();
    }

    /** {@code network/IP} read (any IP literal, written canonically or not); null when the name is no such alias. */
    private static IpAlias ipAlias(String name) {
        int slash = name.indexOf('/');
        if (slash < 0) {
            return null;
        }
        InetAddress ip = IpLiteral.parse(name.substring(slash + 1));
        return ip == null ? null : new IpAlias(name.substring(0, slash), ip);
    }

    /** A new state: send each type's diff (or mark it dirty while a response is unacknowledged). */
    void onState(MeshState next) {
        state = next;
        pushAll();
    }

    /**
     * Authorization first: a workload new on this node lists policies the node may not hold yet, and ztunnel skips
     * policy keys it does not know (allowing what they would forbid) until they arrive. While an Authorization diff
     * waits for the ACK of the previous response, Address waits too ({@link #push}). Policies leaving the node's
     * scope go the other way, after the Address diff ({@link #removalWaitsForAddress}).
     */
    private void pushAll() {
        unserved.drain(this::answerUnserved);
        TypeState authorization = types.get(TypeUrls.AUTHORIZATION);
        if (authorization != null) {
            push(TypeUrls.AUTHORIZATION, authorization);
        }
        types.forEach((type, ts) -> {
            if (ts != authorization) {
                push(type, ts);
            }
        });
    }

    /** The empty answer to a type not served, listing {@code names} as removed (held back while the queue is full). */
    private void answerUnserved(String type, Set<String> names) {
        if (closed) {
            return;
        }
        if (out.writeQueueFull()) {
            unserved.owe(type, names);
            return;
        }
        out.write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(type).setNonce(Long.toString(++nonces))
                .setSystemVersionInfo(String.valueOf(state.generation())).addAllRemovedResources(names).build());
    }

    private boolean snapshotMode(TypeState ts) {
        return ts.wildcard && ts.explicit.isEmpty() && ts.held != null || ts.synced != null || ts.heldView != null;
    }

    private void push(String type, TypeState ts) {
        if (closed || !ts.subscribed) {
            return;
        }
        if (ts.pendingNonce != null || out.writeQueueFull()) {
            ts.dirty = true;
            return;
        }
        boolean address = TypeUrls.ADDRESS.equals(type);
        TypeState authorization = types.get(TypeUrls.AUTHORIZATION);
        if (address && authorization != null && authorization.dirty) {
            // an Authorization diff is not sent yet (its previous response awaits the ACK): the addresses wait
            // behind it, so a workload never reaches ztunnel before the policies that apply to it
            ts.dirty = true;
            return;
        }
        if (address && !ts.wildcard && !ts.ipAliases.isEmpty() && !state.ipIndexReady()) {
            ts.dirty = true;
            awaitIpIndex();
            return;
        }
        ts.dirty = false;
        Budget budget = new Budget(maxResourcesPerResponse);
        List<String> removed = new ArrayList<>();
        boolean complete = address && ts.wildcard && ts.explicit.isEmpty() ? diffSnapshot(ts, budget, removed)
                : address && !ts.wildcard ? diffOnDemand(ts, budget, removed)
                : diffTracked(type, ts, budget, removed);
        if (address && complete) {
            addressSentFor = state;
        }
        if (budget.resources.isEmpty() && removed.isEmpty() && ts.sentFirst && !ts.mustRespond) {
            if (complete) {
                // the rest of a pass had nothing to send: what went before is acknowledged (nothing is pending)
                ts.firstPassSent = true;
                ts.initialSynced = true;
            }
            afterAddress(address && complete);
            tellIfInitiallySynced();
            return;
        }
        DeltaDiscoveryResponse.Builder resp = DeltaDiscoveryResponse.newBuilder().setTypeUrl(type)
                .setNonce(Long.toString(++nonces))
                // a part of a split snapshot says so: clients count their first configuration complete only
                // when no part is pending (an Istio client ignores the field)
                .setSystemVersionInfo(state.generation() + (complete ? "" : TypeUrls.PARTIAL_SUFFIX))
                .addAllRemovedResources(removed);
        budget.resources.forEach(r -> resp.addResources(r.wire()));
        ts.sentFirst = true;
        ts.mustRespond = false;
        ts.pendingNonce = resp.getNonce();
        // the rest goes out when this part is acknowledged
        ts.dirty = !complete;
        ts.firstPassSent |= complete;
        metrics.pushed(type, budget.resources.size(), removed.size());
        out.write(resp.build());
        afterAddress(address && complete);
    }

    /** Address is through for the current state: the policies that only the workloads it moved away needed go. */
    private void afterAddress(boolean addressThrough) {
        TypeState authorization = types.get(TypeUrls.AUTHORIZATION);
        if (addressThrough && authorization != null && authorization.scopeRemovalsWaiting) {
            push(TypeUrls.AUTHORIZATION, authorization);
        }
    }

    /**
     * Whether removing {@code name} of {@code type} waits for the Address diff: an Authorization that still exists
     * and only left this node's scope (its workloads deleted or moved away) while Address has not caught up with the
     * current state. Removed first, it would leave ztunnel those workloads local with the policy key unknown, which
     * it skips (a DENY not enforced).
     */
    private boolean removalWaitsForAddress(String type, String name) {
        return TypeUrls.AUTHORIZATION.equals(type) && state.authorizations().containsKey(name)
                && types.containsKey(TypeUrls.ADDRESS) && addressSentFor != state;
    }

    /** Has a worker build the current state's network/IP index, then pushes Address again on this loop. */
    private void awaitIpIndex() {
        if (awaitingIpIndex == state) {
            return;
        }
        MeshState waitingFor = state;
        awaitingIpIndex = waitingFor;
        waitingFor.ipIndex(task -> context.executeBlocking(() -> {
            task.run();
            return null;
        }, false)).whenComplete((v, err) -> context.runOnContext(x -> {
            if (awaitingIpIndex == waitingFor) {
                awaitingIpIndex = null;
            }
            if (err != null) {
                // the next request or state tries again
                log.atWarn().setCause(err).addKeyValue("node", node).log("building the network/IP index failed");
                return;
            }
            TypeState ts = types.get(TypeUrls.ADDRESS);
            if (ts != null && ts.dirty) {
                push(TypeUrls.ADDRESS, ts);
            }
        }));
    }

    /** Wildcard Address: a delta since the synced state when it fits one response, else a full pass. */
    private boolean diffSnapshot(TypeState ts, Budget budget, List<String> removed) {
        NavigableMap<String, Resource> wanted = state.addresses();
        if (ts.synced != null && ts.cursor == null) {
            Set<String> changed = state.addressesChangedSince(ts.synced.generation());
            if (changed != null && changed.size() <= maxResourcesPerResponse) {
                List<Resource> updates = new ArrayList<>();
                for (String name : changed) {
                    Resource now = wanted.get(name);
                    if (now == null) {
                        removed.add(name);
                    } else {
                        Resource had = ts.synced.addresses().get(name);
                        if (had == null || !had.version().equals(now.version())) {
                            updates.add(now);
                        }
                    }
                }
                if (budget.fits(updates)) {
                    updates.forEach(budget::add);
                    ts.synced = state;
                    ts.beyondSynced = Set.of(); // added after `synced`: in `changed`
                    return true;
                }
                removed.clear();
            }
            // too much changed, or too long ago: a full pass against what the client holds
            ts.heldView = ts.synced.addresses();
            ts.synced = null;
        }
        if (ts.cursor == null) {
            ts.passStart = state;
            ts.passSentBeyondStart = new HashSet<>();
        }
        NavigableMap<String, Resource> start = ts.passStart.addresses();
        Map<String, Resource> view = ts.cursor == null ? wanted : wanted.tailMap(ts.cursor, false);
        for (Resource r : view.values()) {
            if (r.version().equals(heldVersion(ts, r.name()))) {
                continue;
            }
            if (!budget.add(r)) {
                ts.cursor = budget.last();
                return false;
            }
            if (!start.containsKey(r.name())) {
                ts.passSentBeyondStart.add(r.name());
            }
        }
        // through: what the client may hold and is gone now is removed; what it holds beyond the state the pass
        // began at is remembered with it (the next delta from that state covers it, a later full pass may not)
        Set<String> gone = new LinkedHashSet<>();
        Set<String> beyond = new HashSet<>();
        List<Collection<String>> mayHold = new ArrayList<>(List.of(ts.passSentBeyondStart, ts.beyondSynced));
        if (ts.held != null) {
            mayHold.add(ts.held.keySet());
        }
        if (ts.heldView != null) {
            mayHold.add(ts.heldView.keySet());
        }
        for (Collection<String> names : mayHold) {
            for (String n : names) {
                if (!wanted.containsKey(n)) {
                    gone.add(n);
                } else if (!start.containsKey(n)) {
                    beyond.add(n);
                }
            }
        }
        removed.addAll(gone);
        ts.held = null;
        ts.heldView = null;
        ts.cursor = null;
        ts.synced = ts.passStart;
        ts.beyondSynced = beyond;
        ts.passStart = null;
        ts.passSentBeyondStart = new HashSet<>();
        return true;
    }

    /**
     * Adds to {@code held} what a full pass cut short may have sent (it keeps no record of it): every name up to its
     * cursor, at the version the pass began with, except those changed since, whose version is unknown ({@code ""}:
     * sent again, or removed when gone). When the changes go back further than the state remembers, every name up to
     * the cursor is unknown; one added and deleted again during such a long pass is then not known to be held.
     */
    private void holdWhatThePassSent(TypeState ts) {
        if (ts.cursor == null || ts.passStart == null) {
            return;
        }
        String cursor = ts.cursor;
        Set<String> changed = state.addressesChangedSince(ts.passStart.generation());
        ts.passStart.addresses().headMap(cursor, true)
                .forEach((n, r) -> ts.held.put(n, changed == null ? "" : r.version()));
        Collection<String> unknown = changed != null ? changed : state.addresses().headMap(cursor, true).keySet();
        for (String n : unknown) {
            if (n.compareTo(cursor) <= 0) {
                ts.held.put(n, "");
            }
        }
        ts.passSentBeyondStart.forEach(n -> ts.held.put(n, ""));
        ts.passSentBeyondStart = new HashSet<>();
    }

    private static String heldVersion(TypeState ts, String name) {
        if (ts.held != null) {
            return ts.held.get(name);
        }
        if (ts.heldView != null) {
            Resource r = ts.heldView.get(name);
            return r == null ? null : r.version();
        }
        return null;
    }

    private static Map<String, String> heldVersions(TypeState ts) {
        Map<String, String> out = new HashMap<>();
        if (ts.held != null) {
            out.putAll(ts.held);
        }
        Map<String, Resource> view = ts.synced != null ? ts.synced.addresses() : ts.heldView;
        if (view != null) {
            view.forEach((n, r) -> out.put(n, r.version()));
        }
        ts.beyondSynced.forEach(n -> out.putIfAbsent(n, ""));
        return out;
    }

    /** Authorization and explicit subscriptions: name → version tracked, everything diffed. */
    private boolean diffTracked(String type, TypeState ts, Budget budget, List<String> removed) {
        if (ts.held == null) {
            ts.held = heldVersions(ts);
            ts.synced = null;
            ts.heldView = null;
            ts.beyondSynced = Set.of();
        }
        Map<String, Resource> wanted = state.resourcesFor(type, node);
        Map<String, Resource> view = wanted instanceof NavigableMap<String, Resource> sorted && ts.cursor != null
                ? sorted.tailMap(ts.cursor, false) : wanted;
        boolean complete = true;
        for (Map.Entry<String, Resource> e : view.entrySet()) {
            if (!ts.wildcard && !ts.explicit.contains(e.getKey())) {
                continue;
            }
            if (!e.getValue().version().equals(ts.held.get(e.getKey())) && !budget.add(e.getValue())) {
                ts.cursor = wanted instanceof NavigableMap ? budget.last() : null;
                complete = false;
                break;
            }
        }
        if (complete) {
            ts.cursor = null;
            ts.requested.clear(); // (only on-demand subscriptions answer "does not exist")
            ts.scopeRemovalsWaiting = false;
            for (String name : ts.held.keySet()) {
                if (!wanted.containsKey(name) || (!ts.wildcard && !ts.explicit.contains(name))) {
                    if (removalWaitsForAddress(type, name)) {
                        ts.scopeRemovalsWaiting = true; // still held: removed after the Address diff
                    } else {
                        removed.add(name);
                    }
                }
            }
        }
        budget.resources.forEach(r -> ts.held.put(r.name(), r.version()));
        removed.forEach(ts.held::remove);
        return complete;
    }

    /** An address an on-demand subscription wants, and the subscribed aliases it matches (null: none). */
    private record Wanted(Resource resource, TreeSet<String> aliases) {
        String tag() {
            return heldTag(resource.version(), aliases == null ? List.of() : aliases);
        }
    }

    /**
     * What the client holds of a resource as {@code held} records it: its version, and the aliases it came with (so
     * an alias subscribed later to a resource the client holds sends it again, with that alias).
     */
    private static String heldTag(String version, Collection<String> aliases) {
        return aliases.isEmpty() ? version : version + " " + String.join(" ", aliases);
    }

    /**
     * Non-wildcard Address: the addresses the subscribed names match (canonical names, network/IP aliases), each
     * with the aliases it matches; tracked name → version and aliases. Costs in proportion to the subscription.
     */
    private boolean diffOnDemand(TypeState ts, Budget budget, List<String> removed) {
        if (ts.held == null) {
            ts.held = heldVersions(ts);
            ts.synced = null;
            ts.heldView = null;
            ts.beyondSynced = Set.of();
        }
        NavigableMap<String, Resource> addresses = state.addresses();
        TreeMap<String, Wanted> wanted = new TreeMap<>();
        Set<String> matching = new HashSet<>(); // subscribed names that match something
        // what the names just subscribed match: sent even if the client holds it as it is, since a client waits
        // for a response that names what it asked for (a push crossing its request says nothing about it)
        Set<String> answering = new HashSet<>();
        for (String name : ts.explicit) {
            boolean requested = ts.requested.contains(name);
            Resource r = addresses.get(name);
            if (r != null) {
                wanted.putIfAbsent(name, new Wanted(r, null));
                matching.add(name);
                if (requested) {
                    answering.add(name);
                }
            }
            IpAlias alias = ts.ipAliases.get(name);
            if (alias == null) {
                continue;
            }
            for (String holder : state.addressNamesAt(alias.network(), alias.ip())) {
                Resource h = addresses.get(holder);
                if (h == null) {
                    continue;
                }
                Wanted w = wanted.get(holder);
                if (w == null || w.aliases() == null) {
                    w = new Wanted(h, new TreeSet<>());
                    wanted.put(holder, w);
                }
                w.aliases().add(name);
                matching.add(name);
                if (requested) {
                    answering.add(holder);
                }
            }
        }
        // a service comes with its workloads, as istiod's lookup answers: without them it could not be routed to
        for (Wanted w : List.copyOf(wanted.values())) {
            for (String endpoint : state.endpointNamesOf(w.resource().name())) {
                Resource e = addresses.get(endpoint);
                if (e != null) {
                    wanted.putIfAbsent(endpoint, new Wanted(e, null));
                }
            }
        }
        Map<String, Wanted> view = ts.cursor == null ? wanted : wanted.tailMap(ts.cursor, false);
        boolean complete = true;
        for (Wanted w : view.values()) {
            if (w.tag().equals(ts.held.get(w.resource().name())) && !answering.contains(w.resource().name())) {
                continue;
            }
            Resource r = w.resource();
            if (w.aliases() != null) {
                r = new Resource(r.name(), r.version(), r.body(),
                        r.wire().toBuilder().addAllAliases(w.aliases()).build());
            }
            if (!budget.add(r)) {
                ts.cursor = budget.last();
                complete = false;
                break;
            }
        }
        if (complete) {
            ts.cursor = null;
            Set<String> gone = new LinkedHashSet<>();
            for (var it = ts.held.keySet().iterator(); it.hasNext(); ) {
                String name = it.next();
                if (!wanted.containsKey(name)) {
                    it.remove();
                    // an alias a reconnecting client listed as held, which matches: nothing to remove
                    if (!matching.contains(name)) {
                        gone.add(name);
                    }
                }
            }
            for (String name : ts.requested) {
                if (!matching.contains(name)) {
                    gone.add(name); // xDS: a subscribed resource that does not exist is reported removed
                }
            }
            ts.requested.clear();
            removed.addAll(gone);
        }
        budget.resources.forEach(r -> ts.held.put(r.name(), heldTag(r.version(), r.wire().getAliasesList())));
        return complete;
    }

    /**
     * What one response may carry: at most {@code maxResources}, and about {@value #MAX_RESPONSE_BYTES} bytes; a
     * single larger resource still goes alone.
     */
    private static final class Budget {
        final List<Resource> resources = new ArrayList<>();
        final int maxResources;
        long bytes;

        Budget(int maxResources) {
            this.maxResources = maxResources;
        }

        boolean add(Resource r) {
            long size = r.wire().getSerializedSize() + 8L;
            if (!resources.isEmpty() && (resources.size() >= maxResources || bytes + size > MAX_RESPONSE_BYTES)) {
                return false;
            }
            resources.add(r);
            bytes += size;
            return true;
        }

        boolean fits(List<Resource> all) {
            long total = 0;
            for (Resource r : all) {
                total += r.wire().getSerializedSize() + 8L;
            }
            return all.size() <= maxResources && (all.size() <= 1 || total <= MAX_RESPONSE_BYTES);
        }

        String last() {
            return resources.isEmpty() ? null : resources.get(resources.size() - 1).name();
        }
    }

    /** Whether nothing of {@code type} awaits its ACK or is queued (tests, benchmarks). */
    boolean settled(String type) {
        TypeState ts = types.get(type);
        return ts != null && ts.pendingNonce == null && !ts.dirty;
    }

    void close() {
        closed = true;
        initialSyncListener = null;
    }
}
