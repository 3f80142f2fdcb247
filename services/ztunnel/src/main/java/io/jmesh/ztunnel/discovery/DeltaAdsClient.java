package io.jmesh.ztunnel.discovery;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.proto.envoy.config.core.v3.Node;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcClient;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.google.rpc.Status;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import java.time.Duration;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's delta (incremental) ADS client to policy ({@code DeltaAggregatedResources}), subscribed (wildcard) to
 * {@code istio.workload.Address} and {@code istio.security.Authorization}.
 *
 * <p>Each response is applied as one batch: resources that fail to decode or validate are left out and named in
 * the NACK's {@code error_detail}, the valid ones are applied (Istio's behaviour); otherwise the nonce is ACKed. On
 * reconnect the subscription carries {@code initial_resource_versions} (every accepted name → version) so the
 * server sends only differences. Reconnects back off from {@code initialBackoff}, doubling to {@code maxBackoff},
 * reset by a good response. Through an outage the last good state keeps serving (nothing is cleared).
 *
 * <p>On demand ({@code discovery.onDemand}, Istio's {@code XDS_ON_DEMAND}) the first {@code Address} request
 * subscribes and unsubscribes {@code *} at once, which leaves nothing subscribed (Istio's way of asking for zero
 * resources); {@link #demand} then subscribes one alias ({@code network/IP} or {@code namespace/hostname}) when a
 * lookup misses (a service's {@code namespace/hostname} is also its canonical name). Only a
 * response that names the subscribed name answers it: a resource by that name or carrying it among its
 * {@code aliases} (found), or the name among the removed resources (xDS "does not exist": not found). Concurrent
 * demands of one name share its request; every name stays subscribed (later pushes for it apply as usual) and is
 * subscribed again on reconnect, in the first request, beside {@code initial_resource_versions}.
 * {@link #onDemandState} lists the subscriptions ({@code /config_dump}). Authorizations are always wildcard.
 *
 * <p>Authenticated as the node: {@code authorization: Bearer <token>}, {@code clusterid}. Runs on one Vert.x
 * context; state is written only there.
 */
public final class DeltaAdsClient {

    public static final String ADDRESS_TYPE = io.jmesh.core.xds.XdsTypes.ADDRESS;
    public static final String AUTHORIZATION_TYPE = io.jmesh.core.xds.XdsTypes.AUTHORIZATION;

    /** A subscription's state, as {@link #onDemandState} shows it (the words of {@code ztunnel_on_demand_requests}). */
    public static final String PENDING = "pending";
    public static final String FOUND = "found";
    public static final String NOT_FOUND = "not_found";
    /** Named by policy's answer in a resource this ztunnel rejected (NACKed): nothing usable arrived. */
    public static final String REJECTED = "rejected";
    public static final String TIMEOUT = "timeout";

    private static final Logger log = LoggerFactory.getLogger(DeltaAdsClient.class);

    private final Vertx vertx;
    private final GrpcClient client;
    private final SocketAddress server;
    private final Supplier<String> token;
    private final ZtunnelConfig config;
    private final WorkloadStore store;
    private final AuthorizationStore policies;
    private final Counter messages;
    private final Counter messageBytes;
    private final Counter rejected;
    private final Counter terminations;
    private final Map<String, Map<String, String>> versions = new ConcurrentHashMap<>();
    private final Set<String> awaitingFirst = ConcurrentHashMap.newKeySet();
    /** Types with a part NACKed in the split snapshot under way: the whole is NACKed (context only). */
    private final Set<String> nackedInSnapshot = new java.util.HashSet<>();
    private final Promise<Void> firstFull = Promise.promise();
    private final Context context;
    private Duration backoff;
    private volatile boolean stopped;
    private volatile GrpcClientRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call;

    // on-demand only; written on `context` only, concurrent so that onDemandState() reads them from any thread
    private final boolean onDemand;
    private final Map<String, Alias> aliases = new ConcurrentHashMap<>();
    /** Aliases whose subscription has been answered: a lookup that missed on one waits for nothing (any thread). */
    private final Set<String> answered = ConcurrentHashMap.newKeySet();
    private final Counter demands;

    /**
     * Most aliases one ztunnel subscribes. Lookups that miss are driven by traffic (an inbound CONNECT names any
     * address it likes, an application dials any), and a subscription lasts as long as the process (as in Istio):
     * past this, a miss is not asked for but goes on as unknown, counted as {@code limit}.
     */
    static final int MAX_ALIASES = 100_000;

    private volatile int maxAliases = MAX_ALIASES;
    private boolean aliasLimitLogged;

    /** One subscribed alias: its state, and who waits for its answer. */
    private static final class Alias {
        /**
         * {@link #PENDING}, {@link #TIMEOUT} (the last wait gave up), then for good {@link #FOUND},
         * {@link #NOT_FOUND} or {@link #REJECTED}; written on the client's context, read from any thread.
         */
        volatile String state = PENDING;
        Promise<Void> waiting;
        long timer = -1;

        boolean answered() {
            return FOUND.equals(state) || NOT_FOUND.equals(state) || REJECTED.equals(state);
        }
    }

    /**
     * What on-demand discovery has subscribed, read without stopping it: {@code subscribed} names in all, how many
     * are in each state, the limit ({@link #MAX_ALIASES}), and at most the requested number of them with their state
     * (sorted by name), {@code omitted} being the rest. When not all fit, the ones an operator looks for come first:
     * those still waiting ({@link #PENDING}, {@link #TIMEOUT}), then {@link #REJECTED}, {@link #NOT_FOUND}, and
     * {@link #FOUND} last, each in name order.
     */
    public record OnDemandState(int subscribed, Map<String, Integer> byState, int limit, Map<String, String> listed,
            int omitted) {}

    public DeltaAdsClient(Vertx vertx, GrpcClient client, SocketAddress server, Supplier<String> token,
            ZtunnelConfig config, WorkloadStore store, AuthorizationStore policies, PrometheusRegistry metrics) {
        this.vertx = vertx;
        this.client = client;
        this.server = server;
        this.token = token;
        this.config = config;
        this.store = store;
        this.policies = policies;
        this.backoff = config.discovery().initialBackoff();
        this.context = vertx.getOrCreateContext();
        this.onDemand = config.discovery().onDemand();
        // written on the client's context only; concurrent so that versions() can be read from any thread
        versions.put(ADDRESS_TYPE, new ConcurrentHashMap<>());
        versions.put(AUTHORIZATION_TYPE, new ConcurrentHashMap<>());
        awaitingFirst.add(ADDRESS_TYPE);
        awaitingFirst.add(AUTHORIZATION_TYPE);
        messages = Counter.builder().name("istio_xds_message_total").help("xDS responses received, by type")
                .labelNames("url").register(metrics);
        messageBytes = Counter.builder().name("istio_xds_message_bytes_total")
                .help("bytes of xDS responses received, by type").labelNames("url").register(metrics);
        rejected = Counter.builder().name("ztunnel_xds_rejected_resources_total")
                .help("xDS resources rejected (NACKed), by type").labelNames("url").register(metrics);
        for (String type : new String[] {ADDRESS_TYPE, AUTHORIZATION_TYPE}) {
            rejected.labelValues(type);
        }
        terminations = Counter.builder().name("istio_xds_connection_terminations_total")
                .help("xDS streams that ended, by reason: reconnect (the server sent the connection away with"
                        + " GOAWAY: aged out or shutting down), error, closed (ended OK by the server)")
                .labelNames("reason").register(metrics);
        if (onDemand) {
            demands = Counter.builder().name("ztunnel_on_demand_requests_total")
                    .help("on-demand address lookups asked of policy, by result: found, not_found (policy has "
                            + "nothing by that alias), rejected (what policy sent failed validation), timeout (no answer within discovery.onDemandTimeout), limit "
                            + "(not asked: " + MAX_ALIASES + " aliases subscribed already)")
                    .labelNames("result").register(metrics);
            for (String result : new String[] {FOUND, NOT_FOUND, REJECTED, TIMEOUT, "limit"}) {
                demands.labelValues(result);
            }
        } else {
            demands = null;
        }
    }

    /**
     * The gRPC client for policy: TLS verifying policy's certificate against {@code rootCertFile} (empty:
     * plaintext, tests only), read once; ztunnel itself uses {@link PolicyChannel}, which follows the file.
     */
    public static GrpcClient grpcClient(Vertx vertx, String rootCertFile) {
        try {
            String roots = rootCertFile.isEmpty() ? null
                    : java.nio.file.Files.readString(java.nio.file.Path.of(rootCertFile));
            return GrpcClient.client(vertx, PolicyChannel.grpcOptions(), PolicyChannel.options(roots));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Completes when a response of each type has been accepted whole (readiness): one with a resource NACKed
     * applies its valid part but does not count, as in Istio's ztunnel; the next one ACKed does. A snapshot split
     * into parts counts as one response, NACKed if any part was. On demand, policy's first {@code Address} answer
     * counts whatever it holds (it answers lookups; Istio's ztunnel waits for no on-demand type).
     */
    public Future<Void> firstFullSync() {
        return firstFull.future();
    }

    public void start() {
        context.runOnContext(v -> connect());
    }

    public void stop() {
        stopped = true;
        var c = call;
        if (c != null) {
            c.cancel();
        }
        if (onDemand) {
            context.runOnContext(v -> aliases.forEach((alias, a) -> {
                if (a.waiting != null) {
                    vertx.cancelTimer(a.timer);
                    a.waiting.tryFail("discovery stopped before policy answered the lookup of " + alias);
                    a.waiting = null;
                }
            }));
        }
    }

    /**
     * On-demand: subscribes {@code alias} ({@code network/IP} or {@code namespace/hostname}, see
     * {@link io.jmesh.core.xds.XdsTypes}; or any resource's canonical name) unless it already
     * is, and completes once policy's answer has been applied to the store, whether or not anything matched; fails
     * after {@code discovery.onDemandTimeout} without an answer (the subscription stands: a later answer still
     * applies, and a later demand waits for it again). An alias answered before completes at once, on the calling
     * thread; otherwise this hops onto the client's context, and completes there. Off: completes at once.
     */
    public Future<Void> demand(String alias) {
        if (!onDemand || answered.contains(alias)) {
            return Future.succeededFuture();
        }
        Promise<Void> p = Promise.promise();
        context.runOnContext(v -> join(alias, p));
        return p.future();
    }

    /**
     * The subscriptions now, listing at most {@code maxListed} of them (the first met: the listing is bounded, a
     * subscription lasting as long as the process). Callable from any thread; reads the client's concurrent state
     * as it is (a subscription made meanwhile may or may not show). Empty when on-demand discovery is off.
     */
    public OnDemandState onDemandState(int maxListed) {
        Map<String, Integer> byState = new LinkedHashMap<>();
        for (String s : new String[] {PENDING, FOUND, NOT_FOUND, REJECTED, TIMEOUT}) {
            byState.put(s, 0);
        }
        // the maxListed first by (state's rank, name): a bounded heap whose head is the last of those kept
        Comparator<Map.Entry<String, String>> order = Comparator
                .<Map.Entry<String, String>>comparingInt(e -> LISTING_ORDER.indexOf(e.getValue()))
                .thenComparing(Map.Entry::getKey);
        PriorityQueue<Map.Entry<String, String>> kept = new PriorityQueue<>(order.reversed());
        int subscribed = 0;
        for (var e : aliases.entrySet()) {
            Map.Entry<String, String> named = Map.entry(e.getKey(), e.getValue().state);
            subscribed++;
            byState.merge(named.getValue(), 1, Integer::sum);
            if (maxListed <= 0) {
                continue;
            }
            if (kept.size() < maxListed) {
                kept.add(named);
            } else if (order.compare(named, kept.peek()) < 0) {
                kept.poll();
                kept.add(named);
            }
        }
        TreeMap<String, String> listed = new TreeMap<>();
        kept.forEach(e -> listed.put(e.getKey(), e.getValue()));
        return new OnDemandState(subscribed, Collections.unmodifiableMap(byState), maxAliases,
                Collections.unmodifiableMap(listed), subscribed - listed.size());
    }

    /** Which subscriptions {@link #onDemandState} lists first when not all fit. */
    private static final List<String> LISTING_ORDER = List.of(PENDING, TIMEOUT, REJECTED, NOT_FOUND, FOUND);

    /** Tests: a smaller {@link #MAX_ALIASES}. */
    void limitAliases(int max) {
        context.runOnContext(v -> maxAliases = max);
    }

    private void join(String alias, Promise<Void> p) {
        if (stopped) {
            p.tryFail("discovery stopped");
            return;
        }
        Alias a = aliases.get(alias);
        if (a == null && aliases.size() >= maxAliases) {
            demands.labelValues("limit").inc();
            if (!aliasLimitLogged) {
                aliasLimitLogged = true;
                log.atWarn().addKeyValue("limit", maxAliases).log("on-demand discovery subscribed the most aliases it"
                        + " may: further unknown addresses are not asked for (counted as result=limit)");
            }
            p.tryFail("on-demand lookup of " + alias + " not asked: " + maxAliases + " aliases subscribed already");
            return;
        }
        if (a == null) {
            a = new Alias();
            aliases.put(alias, a);
            await(alias, a);
            var c = call;
            if (c != null) {
                // otherwise the next stream's first request subscribes it
                try {
                    c.write(DeltaDiscoveryRequest.newBuilder().setTypeUrl(ADDRESS_TYPE)
                            .addResourceNamesSubscribe(alias).build());
                } catch (RuntimeException e) {
                    log.atDebug().addKeyValue("alias", alias).log("on-demand subscription not sent (stream ending: "
                            + "the next stream subscribes it): {}", e.getMessage());
                }
            }
        } else if (a.answered()) {
            p.tryComplete();
            return;
        } else if (a.waiting == null) {
            await(alias, a); // an earlier wait timed out; the subscription stands
        }
        a.waiting.future().onComplete(p);
    }

    /** Starts waiting for the answer to {@code alias}'s subscription, for at most the configured timeout. */
    private void await(String alias, Alias a) {
        Promise<Void> waiting = Promise.promise();
        a.waiting = waiting;
        a.state = PENDING;
        Duration timeout = config.discovery().onDemandTimeout();
        a.timer = vertx.setTimer(Math.max(1, timeout.toMillis()), id -> {
            if (a.waiting != waiting) {
                return;
            }
            a.waiting = null;
            a.timer = -1;
            a.state = TIMEOUT;
            demands.labelValues(TIMEOUT).inc();
            log.atWarn().addKeyValue("alias", alias).addKeyValue("timeout", timeout.toString())
                    .log("on-demand lookup unanswered by policy in time: what waited for it goes on as if the "
                            + "name were unknown");
            waiting.tryFail(new java.util.concurrent.TimeoutException("policy did not answer the on-demand lookup of "
                    + alias + " within " + timeout));
        });
    }

    /** {@code alias}'s subscription is answered: whoever waits goes on (and later lookups wait for nothing). */
    private void answer(String alias, String result) {
        Alias a = aliases.get(alias);
        if (a != null && REJECTED.equals(a.state) && FOUND.equals(result)) {
            a.state = FOUND; // a valid version came later (answered before: nobody waits)
            return;
        }
        if (a == null || a.answered()) {
            return;
        }
        a.state = result;
        answered.add(alias);
        Promise<Void> waiting = a.waiting;
        if (waiting != null) {
            a.waiting = null;
            vertx.cancelTimer(a.timer);
            a.timer = -1;
            demands.labelValues(a.state).inc();
            waiting.tryComplete();
        }
    }

    /** Accepted versions by type and name (what a reconnect announces). */
    public Map<String, Map<String, String>> versions() {
        return versions;
    }

    private void connect() {
        if (stopped) {
            return;
        }
        client.request(server, AggregatedDiscoveryServiceGrpcClient.DeltaAggregatedResources).onSuccess(c -> {
            call = c;
            nackedInSnapshot.clear(); // a new stream sends its snapshot afresh
            String t = token.get();
            if (!t.isEmpty()) {
                c.headers().set("authorization", "Bearer " + t);
            }
            c.headers().set("clusterid", config.node().clusterId());
            // policy sends GOAWAY when it ages a connection out (xds.maxConnectionAge) or shuts down: the stream's
            // end is then a reconnect, not an error (Istio's ztunnel: "received prior goaway" is a Reconnect)
            boolean[] goneAway = {false};
            if (c.connection() != null) {
                io.jmesh.core.grpc.GoAways.onReceived(c.connection(), () -> goneAway[0] = true);
            }
            // Authorization first: policy answers each subscription as it reads it, and a workload applied before
            // the policies it lists is enforced without them (unknown keys are skipped) until they arrive; on a
            // reconnect this ztunnel serves traffic meanwhile
            c.write(subscribe(AUTHORIZATION_TYPE));
            c.write(onDemand ? subscribeOnDemand() : subscribe(ADDRESS_TYPE));
            c.response().onSuccess(resp -> {
                resp.handler(r -> onResponse(c, r));
                resp.exceptionHandler(e -> ended("error: " + e, true, goneAway[0]));
                resp.endHandler(v -> ended("server closed the stream: " + resp.status() + " "
                        + String.valueOf(resp.statusMessage()), resp.status() != io.vertx.grpc.common.GrpcStatus.OK,
                        goneAway[0]));
            }).onFailure(e -> ended("stream failed: " + e, true, goneAway[0]));
        }).onFailure(e -> ended("connect failed: " + e, true, false));
    }

    /**
     * The stream ended: the next one after a backoff. One whose connection the server sent away (GOAWAY) is a
     * reconnect, as Istio's ztunnel takes it: counted {@code reconnect}, logged at INFO, retried after the initial
     * backoff; any other error doubles the backoff and is a warning.
     */
    private void ended(String why, boolean error, boolean goneAway) {
        call = null; // demands meanwhile wait for the next stream's first request
        terminations.labelValues(goneAway ? "reconnect" : error ? "error" : "closed").inc();
        if (stopped) {
            return;
        }
        Duration wait = goneAway ? config.discovery().initialBackoff() : backoff;
        backoff = error && !goneAway ? min(backoff.multipliedBy(2), config.discovery().maxBackoff())
                : config.discovery().initialBackoff();
        var line = goneAway ? log.atInfo() : log.atWarn();
        line.addKeyValue("server", server.toString()).addKeyValue("retryIn", wait.toString())
                .log(goneAway ? "discovery stream ended: the server sent its connection away (GOAWAY: aged out or"
                        + " shutting down) ({}); reconnecting, keeping the configuration"
                        : "discovery stream ended ({}); keeping the last good configuration", why);
        vertx.setTimer(Math.max(1, wait.toMillis()), id -> connect());
    }

    private DeltaDiscoveryRequest subscribe(String type) {
        return DeltaDiscoveryRequest.newBuilder()
                .setNode(node())
                .setTypeUrl(type)
                .putAllInitialResourceVersions(versions.get(type))
                .build();
    }

    /**
     * The first on-demand {@code Address} request of a stream: {@code *} subscribed and unsubscribed at once (nothing
     * by wildcard), every alias subscribed so far, and the versions held. The server names each alias in its answer
     * (a resource carrying it, or a removal), which answers those not yet answered.
     */
    private DeltaDiscoveryRequest subscribeOnDemand() {
        return DeltaDiscoveryRequest.newBuilder()
                .setNode(node())
                .setTypeUrl(ADDRESS_TYPE)
                .addResourceNamesSubscribe("*")
                .addAllResourceNamesSubscribe(aliases.keySet())
                .addResourceNamesUnsubscribe("*")
                .putAllInitialResourceVersions(versions.get(ADDRESS_TYPE))
                .build();
    }

    private Node node() {
        String ns = "istio-system";
        return Node.newBuilder()
                .setId("ztunnel~" + config.node().address() + "~ztunnel-" + config.node().name() + "." + ns + "~"
                        + ns + ".svc.cluster.local")
                .setMetadata(Struct.newBuilder()
                        .putFields("NODE_NAME", str(config.node().name()))
                        .putFields("NAME", str("ztunnel-" + config.node().name()))
                        .putFields("NAMESPACE", str(ns))
                        .putFields("INSTANCE_IPS", str(config.node().address()))
                        .putFields("CLUSTER_ID", str(config.node().clusterId())))
                .build();
    }

    private static Value str(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    private void onResponse(GrpcClientRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c,
            DeltaDiscoveryResponse r) {
        String type = r.getTypeUrl();
        messages.labelValues(type).inc();
        messageBytes.labelValues(type).inc(r.getSerializedSize());
        DiscoveryResponses.Applied applied = DiscoveryResponses.apply(r, store, policies);
        List<String> errors = applied.errors();
        Map<String, String> accepted = applied.accepted();
        Map<String, String> v = versions.get(type);
        if (v != null) {
            v.putAll(accepted);
            r.getRemovedResourcesList().forEach(v::remove);
        }
        DeltaDiscoveryRequest.Builder ack = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type)
                .setResponseNonce(r.getNonce());
        if (!errors.isEmpty()) {
            rejected.labelValues(type).inc(errors.size());
            log.atWarn().addKeyValue("type", type).addKeyValue("nonce", r.getNonce())
                    .log("rejected {} resource(s): {}", errors.size(), String.join("; ", errors));
            ack.setErrorDetail(Status.newBuilder().setCode(3).setMessage(String.join("; ", errors)));
        }
        c.write(ack.build());
        backoff = config.discovery().initialBackoff();
        if (onDemand && ADDRESS_TYPE.equals(type)) {
            answerDemands(r, accepted);
        }
        // a part of a split snapshot is not yet the full configuration: wait for the part that completes it. A
        // NACKed response is not the configuration policy meant (Istio's ztunnel counts a type only once a response
        // is ACKed), nor is a snapshot with a part NACKed: istiod would have sent it as one response, NACKed whole.
        // On demand, Address answers lookups (Istio waits for no on-demand type): policy's first answer counts
        if (!errors.isEmpty() && !(onDemand && ADDRESS_TYPE.equals(type))) {
            nackedInSnapshot.add(type);
        }
        if (!io.jmesh.core.xds.XdsTypes.partial(r.getSystemVersionInfo()) && !nackedInSnapshot.remove(type)
                && awaitingFirst.remove(type) && awaitingFirst.isEmpty()) {
            log.info("first full configuration received from policy");
            firstFull.tryComplete();
        }
    }

    /**
     * The aliases an {@code Address} response answers (after it was applied): those its resources carry (or are
     * named by; found, or rejected when the resource failed validation), and those it removes (Istio's "does not
     * exist"). Only what a response names answers: the server
     * also pushes changes to what the client holds, and such a push crossing a subscription on the wire says
     * nothing about it (taking responses as answers in stream order sent a mesh workload's traffic to passthrough).
     */
    private void answerDemands(DeltaDiscoveryResponse r, Map<String, String> accepted) {
        if (aliases.isEmpty()) {
            return;
        }
        for (Resource res : r.getResourcesList()) {
            // a rejected resource answers too: the lookup waiting for it goes on at once as unknown (or with the
            // version held before) instead of waiting out the timeout for a fix that may never come
            String result = accepted.containsKey(res.getName()) ? FOUND : REJECTED;
            answer(res.getName(), result);
            for (String alias : res.getAliasesList()) {
                answer(alias, result);
            }
        }
        for (String removed : r.getRemovedResourcesList()) {
            answer(removed, NOT_FOUND);
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
