package io.jmesh.policy.xds;

import io.jmesh.core.grpc.Decoded;
import io.jmesh.policy.auth.Caller;
import io.jmesh.policy.auth.NodeAuthenticator;
import io.jmesh.policy.state.MeshState;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import io.vertx.grpc.server.GrpcServerRequest;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delta ADS ({@code envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources}) for ztunnels:
 * {@code istio.workload.Address} and {@code istio.security.Authorization}.
 *
 * <p>Every stream is authenticated first: its bearer token is reviewed ({@link NodeAuthenticator}) and the stream
 * serves the node the token was minted for; a request whose node metadata names another node is refused. Until a
 * state built from the config log is published, every stream is refused {@code UNAVAILABLE}. New streams are then
 * admitted a bounded number at a time ({@link StreamAdmission}), before their token is reviewed or their first
 * request read, and take an initial-sync place once reviewed; the others are refused {@code RESOURCE_EXHAUSTED},
 * and ztunnel backs off. Once reviewed, a node holds one initial-sync place at most: its newer stream ends its older
 * one still syncing ({@code ABORTED}), taking its place over when no other is free; and at most
 * {@link StreamAdmission#maxStreamsPerNode} streams: its newest beyond ends its oldest ({@code ABORTED}).
 * {@link #publish} hands a new immutable {@link MeshState} to every stream on its own event loop; each stream
 * computes its diff there. {@code Address} subscriptions are wildcard or on demand (by canonical name or alias, as
 * Istio's ztunnel with {@code XDS_ON_DEMAND}); {@code Authorization} ones wildcard ({@link AdsStream}).
 */
public final class DeltaAdsServer {

    private static final Logger log = LoggerFactory.getLogger(DeltaAdsServer.class);

    /**
     * Largest request accepted: a reconnecting ztunnel lists every resource it holds in its first request
     * ({@code initial_resource_versions}, ~80 bytes each: ~500,000 resources).
     */
    public static final long MAX_REQUEST_BYTES = 64L * 1024 * 1024;

    private final Vertx vertx;
    private final NodeAuthenticator authenticator;
    private final AdsMetrics metrics;
    private final int maxResourcesPerResponse;
    private final StreamAdmission admission;
    private final Set<AdsStream> streams = ConcurrentHashMap.newKeySet();
    // each node's stream in its initial sync, once its token is reviewed: a node holds one place at most
    private final ConcurrentHashMap<String, SyncPlace> syncingByNode = new ConcurrentHashMap<>();
    // each node's served streams, oldest first
    private final NodeStreams<Served> servedByNode;
    private volatile MeshState latest;
    private volatile boolean notReadyLogged;
    private volatile boolean rateLimitedLogged;
    private volatile boolean syncingLimitLogged;

    /** A server admitting every new stream at once (tests of other things). */
    public DeltaAdsServer(Vertx vertx, NodeAuthenticator authenticator, AdsMetrics metrics, MeshState initial,
            int maxResourcesPerResponse) {
        this(vertx, authenticator, metrics, initial, maxResourcesPerResponse, StreamAdmission.unlimited());
    }

    public DeltaAdsServer(Vertx vertx, NodeAuthenticator authenticator, AdsMetrics metrics, MeshState initial,
            int maxResourcesPerResponse, StreamAdmission admission) {
        this.vertx = vertx;
        this.admission = admission;
        this.authenticator = authenticator;
        this.metrics = metrics;
        this.latest = initial;
        this.maxResourcesPerResponse = maxResourcesPerResponse;
        this.servedByNode = new NodeStreams<>(admission.maxStreamsPerNode());
    }

    /** A served stream as its node's registry knows it: {@code replace} ends it on its event loop, at most once. */
    private record Served(Context context, Runnable replace) {}

    /** Options for the gRPC server that {@link #bind} serves on: requests up to {@link #MAX_REQUEST_BYTES}. */
    public static GrpcServerOptions grpcServerOptions() {
        return new GrpcServerOptions().setMaxMessageSize(MAX_REQUEST_BYTES);
    }

    /** Registers the ADS method on {@code grpc} (created with {@link #grpcServerOptions()}). */
    public void bind(GrpcServer grpc) {
        // requests decoded here, not by Vert.x, whose failing decoder cancels the call with no reason given and no
        // handler told
        grpc.callHandler(Decoded.method(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources),
                this::onStream);
    }

    /** Pushes {@code state} to every stream; callable from any thread. */
    public void publish(MeshState state) {
        latest = state;
        for (AdsStream s : streams) {
            // read `latest` when the task runs, so a burst of states collapses into the newest
            s.context().runOnContext(v -> s.onState(latest));
        }
    }

    public int streamCount() {
        return streams.size();
    }

    /**
     * Whether a state built from the config log has been published ({@link MeshState#EMPTY}, generation 0, is what
     * a replica holds while it replays).
     */
    public boolean serving() {
        return latest.generation() > 0;
    }

    private void onStream(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call) {
        if (!serving()) {
            // a reconnecting ztunnel diffed against no state would be told that everything it holds is gone (istiod
            // refuses streams until it is ready for the same reason); UNAVAILABLE: it backs off and comes back
            metrics.refused("not_ready");
            // once at info: every ztunnel of the cluster may be knocking
            (notReadyLogged ? log.atDebug() : log.atInfo()).addKeyValue("peer", call.connection().remoteAddress())
                    .log("discovery stream refused: the config log is not replayed yet");
            notReadyLogged = true;
            refuse(call, GrpcStatus.UNAVAILABLE, "not ready: the config log is not replayed yet, retry later");
            return;
        }
        // not refused here when every initial-sync place is taken: who the stream is, known after its review only,
        // decides (a node's reconnect takes over the place its half-open stream holds); the turns bound the reviews
        StreamAdmission.Turn turn = admission.reserve();
        if (turn.refused()) {
            metrics.refused("rate_limited");
            (rateLimitedLogged ? log.atDebug() : log.atInfo()).addKeyValue("peer", call.connection().remoteAddress())
                    .log("discovery stream refused: more than {} new streams per second", admission.perSecondText());
            rateLimitedLogged = true;
            // istiod's words and status: ztunnel backs off and comes back, keeping its configuration
            refuse(call, GrpcStatus.RESOURCE_EXHAUSTED, "request rate limit exceeded: more than "
                    + admission.perSecondText() + " new streams per second, retry later");
            return;
        }
        Context ctx = vertx.getOrCreateContext();
        // nothing is read until the stream is served: a paused call's first request (up to MAX_REQUEST_BYTES) stays
        // with the client beyond HTTP/2's flow-control window
        call.pause();
        // a client's reset (RST_STREAM: a cancelled call) reaches the error handler only, at once, paused or not, and
        // never again: one while the stream waits for its turn or its token is reviewed must be remembered, or the
        // stream would be registered after it is gone and never unregistered
        boolean[] reset = {false};
        if (turn.waitNanos() == 0) {
            call.errorHandler(error -> reset[0] = true);
            call.exceptionHandler(e -> reset[0] = true);
            admit(call, ctx, reset);
            return;
        }
        metrics.waiting.inc();
        long timer = vertx.setTimer(Math.max(1, TimeUnit.NANOSECONDS.toMillis(turn.waitNanos())), id -> {
            metrics.waiting.dec();
            admit(call, ctx, reset);
        });
        Handler<Object> gone = e -> {
            if (!reset[0]) {
                reset[0] = true;
                if (vertx.cancelTimer(timer)) { // still waiting: dropped now, its turn given back
                    metrics.waiting.dec();
                    admission.giveBack(turn);
                    log.atDebug().addKeyValue("peer", call.connection().remoteAddress())
                            .log("discovery stream reset by the client while it waited for its turn");
                }
            }
        };
        call.errorHandler(gone::handle);
        call.exceptionHandler(gone::handle);
    }

    /**
     * The stream's turn came: its token is reviewed, then it takes an initial-sync place ({@link #takePlace}). A
     * stream in its review holds no place (it is nobody yet, and nothing of it is read: it costs a paused call):
     * clients whose tokens are slow to review, or refused, never lock the nodes' reconnects out. Reviews in flight are
     * bounded by the turns ({@code perSecond} times the review's timeout), every place taken or not.
     */
    private void admit(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call, Context ctx,
            boolean[] reset) {
        if (reset[0]) {
            return;
        }
        metrics.reviewing.inc();
        authenticator.authenticate(call.headers().get("authorization")).onComplete(ar -> ctx.runOnContext(v -> {
            metrics.reviewing.dec();
            if (reset[0]) {
                log.atDebug().addKeyValue("peer", call.connection().remoteAddress())
                        .log("discovery stream reset by the client while its token was reviewed");
                return;
            }
            if (ar.failed()) {
                boolean refusedToken = ar.cause() instanceof NodeAuthenticator.Unauthenticated;
                metrics.refused(refusedToken ? "unauthenticated" : "review_failed");
                log.atWarn().addKeyValue("peer", call.connection().remoteAddress())
                        .log("discovery stream refused: {}", ar.cause().getMessage());
                refuse(call, refusedToken ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.UNAVAILABLE,
                        refusedToken ? "authentication failed: " + ar.cause().getMessage()
                                : "token review unavailable");
                return;
            }
            Caller caller = ar.result();
            if (caller.node().isEmpty()) {
                metrics.refused("not_a_node");
                refuse(call, GrpcStatus.PERMISSION_DENIED, "token of " + caller.identity() + " is not a node token");
                return;
            }
            SyncPlace place = takePlace(call, ctx, caller.node());
            if (place == null) {
                refuseSyncing(call, caller.node());
                return;
            }
            start(call, ctx, caller, place);
        }));
    }

    /**
     * An initial-sync place for a stream of {@code node} just reviewed: a free one; else, every place taken, the one
     * {@code node} holds, taken over from its older stream still in its initial sync (one its ztunnel gave up on: a
     * half-open connection whose PINGs have not gone unanswered yet; {@link #holdOnePlacePerNode} ends it); else none. A
     * place taken over passes whole: the count and {@code policy_xds_streams_syncing} do not change, and it keeps its
     * deadline. The older stream may be on another event loop, through its initial sync, out of time or ended at the
     * same moment: the place's atomic owner flag ({@link StreamAdmission.Place}) decides which of them has it.
     */
    private SyncPlace takePlace(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call,
            Context ctx, String node) {
        StreamAdmission.Place free = admission.enterSync();
        if (free != null) {
            metrics.syncing.inc();
            return syncPlace(call, ctx, free);
        }
        SyncPlace nodes = syncingByNode.get(node);
        if (nodes == null) {
            return null;
        }
        StreamAdmission.Place taken = nodes.held.handOver();
        if (taken != null) {
            log.atDebug().addKeyValue("node", node).addKeyValue("peer", call.connection().remoteAddress())
                    .log("discovery stream takes over its node's initial-sync place: every place is taken");
            return syncPlace(call, ctx, taken);
        }
        // the node's place went meanwhile (its stream through, out of time or ended; or a newer stream of the node
        // took it over): a place freed may be free still
        free = admission.enterSync();
        if (free != null) {
            metrics.syncing.inc();
            return syncPlace(call, ctx, free);
        }
        return null;
    }

    /** The stream's initial-sync place, taken or taken over: given up by its deadline at the latest. */
    private SyncPlace syncPlace(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call,
            Context ctx, StreamAdmission.Place held) {
        SyncPlace place = new SyncPlace(ctx, held);
        // a stream that stalls (or never subscribes Address) keeps its place no longer: it goes on, unbounded
        long remainingMillis = TimeUnit.NANOSECONDS.toMillis(held.remainingNanos());
        place.deadline = vertx.setTimer(Math.max(1, remainingMillis), id -> {
            if (!place.done && place.giveUp()) {
                metrics.initialSyncTimedOut();
                log.atWarn().addKeyValue("peer", call.connection().remoteAddress())
                        .log("discovery stream not through its initial sync within {} of its node taking its place:"
                                + " the place is given up", admission.maxInitialSync());
            }
        });
        return place;
    }

    /**
     * A stream's initial-sync place, and the node holding it once its token is reviewed; used on the stream's event
     * loop only, but {@link #held}, which a newer stream of the node may take over from any event loop. A stream out
     * of time gives the place up but stays its node's stream in its initial sync until it is through or ends: it
     * still keeps what its ztunnel announced it holds, so its node's newer stream ends it.
     */
    private final class SyncPlace {
        final Context context;
        // one of the maxSyncing places, until given up or taken over by a newer stream of the node
        final StreamAdmission.Place held;
        // through its initial sync, or ended
        boolean done;
        long deadline = -1;
        String node;
        // ends the served stream: a newer stream of its node replaced it
        Runnable supersede;

        SyncPlace(Context context, StreamAdmission.Place held) {
            this.context = context;
            this.held = held;
        }

        /**
         * Out of time: the place is free for another stream; whether it was this stream's until now (not given up or
         * taken over already).
         */
        boolean giveUp() {
            if (held.release()) {
                metrics.syncing.dec();
                return true;
            }
            return false;
        }

        /** The stream is through its initial sync, or ended: the place is free, and its node holds none. */
        void leave() {
            if (!done) {
                done = true;
                vertx.cancelTimer(deadline);
                giveUp();
                if (node != null) {
                    syncingByNode.remove(node, this);
                }
            }
        }

        /** Its node has a newer stream: ends this one, unless it is through its initial sync or ended meanwhile. */
        void supersededByNewer() {
            if (!done && supersede != null) {
                supersede.run();
            }
        }
    }

    private void refuseSyncing(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call,
            String node) {
        metrics.refused("syncing_limit");
        (syncingLimitLogged ? log.atDebug() : log.atInfo()).addKeyValue("node", node)
                .addKeyValue("peer", call.connection().remoteAddress())
                .log("discovery stream refused: {} streams are in their initial sync", admission.maxSyncing());
        syncingLimitLogged = true;
        refuse(call, GrpcStatus.RESOURCE_EXHAUSTED, "too many streams in their initial sync ("
                + admission.maxSyncing() + "), retry later");
    }

    /**
     * Ends a stream not served with {@code status}, then resets it: a client writes its first request (a reconnecting
     * ztunnel: everything it holds, megabytes) without waiting for an answer, and HTTP/2 would go on carrying it to a
     * stream nobody reads. The status goes first, so the client reads it.
     */
    private static void refuse(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call,
            GrpcStatus status, String message) {
        call.response().status(status).statusMessage(message).end();
        call.response().cancel();
    }

    private void start(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call, Context ctx,
            Caller caller, SyncPlace place) {
        AdsStream stream = new AdsStream(ctx, call.response(), caller.node(), latest, metrics,
                maxResourcesPerResponse);
        // its initial-sync place is free once its first full configuration is acknowledged
        stream.onInitialSync(place::leave);
        streams.add(stream);
        stream.onState(latest); // a state published while this stream was being set up
        metrics.streams.inc();
        log.atInfo().addKeyValue("node", caller.node()).log("discovery stream opened");
        Served[] served = {null};
        Runnable closed = () -> {
            place.leave();
            if (served[0] != null) {
                servedByNode.closed(caller.node(), served[0]);
            }
            if (streams.remove(stream)) {
                metrics.streams.dec();
                stream.close();
                log.atInfo().addKeyValue("node", caller.node()).log("discovery stream closed");
            }
        };
        boolean[] refused = {false};
        holdOnePlacePerNode(call, caller.node(), place, () -> {
            refused[0] = true;
            closed.run();
        });
        served[0] = new Served(ctx, () -> {
            if (refused[0] || !streams.contains(stream)) { // ended meanwhile
                return;
            }
            refused[0] = true;
            closed.run();
            metrics.refused("node_streams_limit");
            log.atInfo().addKeyValue("node", caller.node()).addKeyValue("peer", call.connection().remoteAddress())
                    .log("discovery stream ended: its node opened more than {} streams", servedByNode.maxPerNode());
            refuse(call, GrpcStatus.ABORTED, "replaced by a newer discovery stream of node '" + caller.node()
                    + "': a node holds at most " + servedByNode.maxPerNode() + " streams");
        });
        for (Served oldest : servedByNode.open(caller.node(), served[0])) {
            oldest.context().runOnContext(v -> oldest.replace().run());
        }
        call.handler(in -> {
            if (refused[0]) {
                return;
            }
            if (in.message() == null) {
                refused[0] = true;
                metrics.malformed();
                log.atWarn().addKeyValue("node", caller.node()).log("discovery stream ended: request is not a"
                        + " DeltaDiscoveryRequest: {}", in.error());
                closed.run();
                call.response().status(GrpcStatus.INVALID_ARGUMENT)
                        .statusMessage("request is not a DeltaDiscoveryRequest: " + in.error()).end();
                return;
            }
            DeltaDiscoveryRequest req = in.message();
            String claimed = claimedNode(req);
            if (claimed != null && !claimed.equals(caller.node())) {
                refused[0] = true;
                metrics.refused("node_mismatch");
                closed.run();
                call.response().status(GrpcStatus.PERMISSION_DENIED).statusMessage("node metadata NODE_NAME '"
                        + claimed + "' does not match the authenticated node '" + caller.node() + "'").end();
                return;
            }
            stream.onRequest(req);
        });
        call.endHandler(v -> {
            closed.run();
            if (!refused[0]) {
                call.response().end();
            }
        });
        call.errorHandler(error -> closed.run()); // reset by the client
        call.exceptionHandler(e -> closed.run());
        call.response().exceptionHandler(e -> closed.run());
        call.resume();
    }

    /**
     * Makes {@code place} its node's only initial-sync place: a stream of the node still in its initial sync (out of
     * time or not, its place taken over by this one or not) is ended {@code ABORTED}. A ztunnel has one stream, so an
     * older one still syncing is one it gave up on (a half-open connection) or a node opening streams to take every
     * place and starve the other nodes' reconnects.
     */
    private void holdOnePlacePerNode(GrpcServerRequest<Decoded<DeltaDiscoveryRequest>, DeltaDiscoveryResponse> call,
            String node, SyncPlace place, Runnable close) {
        place.node = node;
        place.supersede = () -> {
            close.run();
            metrics.refused("superseded");
            log.atInfo().addKeyValue("node", node).addKeyValue("peer", call.connection().remoteAddress())
                    .log("discovery stream ended: a newer stream of its node replaced it in its initial sync");
            refuse(call, GrpcStatus.ABORTED, "replaced by a newer discovery stream of node '" + node
                    + "' while in its initial sync");
        };
        SyncPlace older = syncingByNode.put(node, place);
        if (older != null) {
            older.context.runOnContext(v -> older.supersededByNewer());
        }
    }

    private static String claimedNode(DeltaDiscoveryRequest req) {
        if (!req.hasNode() || !req.getNode().hasMetadata()) {
            return null;
        }
        var v = req.getNode().getMetadata().getFieldsMap().get("NODE_NAME");
        return v == null || v.getStringValue().isEmpty() ? null : v.getStringValue();
    }
}
