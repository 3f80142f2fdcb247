package io.jmesh.ztunnel.outbound;

import io.jmesh.core.net.IpLiteral;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.discovery.Workloads;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.pool.HboneConnection;
import io.jmesh.ztunnel.pool.HbonePool;
import io.jmesh.ztunnel.pool.PoolKey;
import io.jmesh.ztunnel.telemetry.ConnectionInfo;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.telemetry.ResponseFlags;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.jmesh.ztunnel.tunnel.Relay;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The outbound data path shared by the SOCKS5 (15080) and capture (15001) listeners: identify the source
 * workload, route the destination, then tunnel over pooled HBONE or pass through, and relay.
 */
public final class OutboundProxy {

    /** Told how the attempt ended, before any byte is relayed (SOCKS5 answers the client with it). */
    public interface Outcome {
        void established(Channel client, Runnable startRelay);

        void failed(Channel client, String reason, String detail);
    }

    /** An attempt shutdown ended (its flags and error are then those of {@code ClosedFromDrain}); no stack trace. */
    private static final ResponseFlags.Failure ENDED_AT_SHUTDOWN = new ResponseFlags.Failure(ResponseFlags.CONNECT,
            "ended at shutdown");

    private final ZtunnelConfig config;
    private final WorkloadStore store;
    private final IdentityManager identities;
    private final HbonePool pool;
    private final OutboundRouter router;
    private final ConnectionTelemetry telemetry;
    private final NetTransport net;
    private final OnDemandLookups onDemand;
    private final HostnameResolver hostnames;

    /** Without a resolver: an endpoint known by hostname only is refused ({@value OutboundRouter#NO_RESOLVED_ADDRESSES}). */
    public OutboundProxy(ZtunnelConfig config, WorkloadStore store, IdentityManager identities, HbonePool pool,
            ConnectionTelemetry telemetry, NetTransport net) {
        this(config, store, identities, pool, telemetry, net, null);
    }

    /** @param hostnames resolves the endpoints known by hostname only (shared by the node and its pods) */
    public OutboundProxy(ZtunnelConfig config, WorkloadStore store, IdentityManager identities, HbonePool pool,
            ConnectionTelemetry telemetry, NetTransport net, HostnameResolver hostnames) {
        this.config = config;
        this.store = store;
        this.identities = identities;
        this.pool = pool;
        this.router = new OutboundRouter(config);
        this.telemetry = telemetry;
        this.net = net;
        this.onDemand = new OnDemandLookups(store);
        this.hostnames = hostnames;
    }

    /** The local workload the connection comes from, or null (the caller refuses it). */
    public Workload source(InetSocketAddress clientAddress) {
        Workload w = store.current().workloadByIp(clientAddress.getAddress());
        return w != null && config.node().name().equals(w.getNode()) ? w : null;
    }

    /** Whether discovery is on demand: a source that {@link #source} did not find may be asked for. */
    public boolean onDemand() {
        return store.onDemand();
    }

    /**
     * On-demand discovery: asks for the workload at {@code address} on this node's network (a source the store did
     * not know); completes, never failing, once policy answered or the wait gave up, on discovery's thread.
     */
    public io.vertx.core.Future<Void> demandSource(java.net.InetAddress address) {
        return store.demandAddress(address).transform(ar -> io.vertx.core.Future.succeededFuture());
    }

    /**
     * Proxies {@code client} to {@code host:port}. {@code early} are bytes the client already sent (its listener
     * keeps adding to it, bounded, until the relay starts); they are relayed first. With on-demand discovery, what
     * routing needs and the store lacks is asked for first ({@link OnDemandLookups}); routing then runs on the
     * client's event loop. The connection's telemetry starts now, as Istio's {@code proxy_to} starts its
     * {@code ConnectionResult}'s clock: its duration includes routing and the dial, whether the dial fails or not.
     */
    public void proxy(Channel client, Workload source, String host, int port, List<Object> early, Outcome outcome) {
        long start = System.nanoTime();
        if (store.onDemand()) {
            io.vertx.core.Future<Void> asked = onDemand.prepare(store.current(), host);
            if (asked != null) {
                WorkloadStore.afterAnswer(asked, client,
                        () -> route(client, source, host, port, early, outcome, start));
                return;
            }
        }
        route(client, source, host, port, early, outcome, start);
    }

    private void route(Channel client, Workload source, String host, int port, List<Object> early, Outcome outcome,
            long start) {
        WorkloadIndex index = store.current();
        follow(client, source, router.route(index, source, host, port), host, port, early, outcome, start);
    }

    /** Reason: a passthrough to the node's loopback asked from outside it ({@link #reachesNodeLoopback}). */
    public static final String LOOPBACK_DESTINATION = "loopback_destination";

    /** @param start when the connection was taken ({@link System#nanoTime()}), where its telemetry's duration starts */
    private void follow(Channel client, Workload source, Route route, String host, int port, List<Object> early,
            Outcome outcome, long start) {
        InetSocketAddress clientAddr = (InetSocketAddress) client.remoteAddress();
        String dst = host + ":" + port;
        if (route instanceof Route.Resolve r) {
            resolve(client, source, r, host, port, early, outcome, start);
        } else if (route instanceof Route.Reject r) {
            telemetry.rejected(true, r.reason(), r.detail(), clientAddr, dst);
            outcome.failed(client, r.reason(), r.detail());
        } else if (route instanceof Route.Passthrough p
                && reachesNodeLoopback(p.target(), clientAddr, net.inPodNamespace())) {
            String detail = p.target() + " is on this node's loopback, which " + clientAddr.getAddress().getHostAddress()
                    + " cannot reach itself (ztunnel is not an open proxy)";
            telemetry.rejected(true, LOOPBACK_DESTINATION, detail, clientAddr, dst);
            outcome.failed(client, LOOPBACK_DESTINATION, detail);
        } else if (route instanceof Route.Passthrough p) {
            passthrough(client, source, p, clientAddr, early, outcome, start);
        } else if (route instanceof Route.Hbone h) {
            hbone(client, source, h, clientAddr, early, outcome, start);
        } else if (route instanceof Route.DoubleHbone d) {
            doubleHbone(client, source, d, clientAddr, early, outcome, start);
        }
    }

    /**
     * Istio's on-demand DNS: counts the lookup, resolves the endpoint's hostname (a cached answer at once, else on
     * the client's event loop once the name servers answered), then goes on as for an endpoint at the address the
     * router picks; a name that does not resolve refuses the client like any other failed route.
     */
    private void resolve(Channel client, Workload source, Route.Resolve r, String host, int port, List<Object> early,
            Outcome outcome, long start) {
        telemetry.onDemandDns(source, source == null ? null : Workloads.identity(source, config.node().trustDomain()),
                r.hostname());
        if (hostnames == null) {
            follow(client, source, OutboundRouter.unresolved(r, "cannot be resolved: no resolver"), host, port, early,
                    outcome, start);
            return;
        }
        io.netty.util.concurrent.Future<List<java.net.InetAddress>> lookup =
                hostnames.resolve(client.eventLoop(), r.hostname());
        lookup.addListener(f -> {
            Runnable next = () -> {
                if (!client.isActive()) {
                    return; // gone meanwhile: its listener released what it had read
                }
                Route route = lookup.isSuccess() ? router.resolved(r, lookup.getNow())
                        : OutboundRouter.unresolved(r, "did not resolve: " + why(lookup.cause()));
                follow(client, source, route, host, port, early, outcome, start);
            };
            if (client.eventLoop().inEventLoop()) {
                next.run();
            } else {
                client.eventLoop().execute(next);
            }
        });
    }

    private static String why(Throwable e) {
        return e.getMessage() != null ? e.getMessage().strip() : e.getClass().getSimpleName();
    }

    private void passthrough(Channel client, Workload source, Route.Passthrough p, InetSocketAddress clientAddr,
            List<Object> early, Outcome outcome, long start) {
        var b = net.client(client.eventLoop(), config.hbone().connectTimeout())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {}
                });
        ChannelFuture f;
        if (spoofsPassthrough(p.target())) {
            // transparent mode: the destination sees the pod, as if ztunnel were not there (replies come back to
            // this socket by the capture mark)
            b.option(io.netty.channel.epoll.EpollChannelOption.IP_TRANSPARENT, true);
            f = b.connect(p.target(), new InetSocketAddress(clientAddr.getAddress(), 0));
        } else {
            f = b.connect(p.target());
        }
        Channel upstream = f.channel();
        // shutdown ends the attempt by closing both: the connect fails, and the connection closes as ended
        ConnectionTelemetry.SetUp setUp = telemetry.settingUp(() -> {
            upstream.close();
            client.close();
        });
        f.addListener(x -> {
            if (!x.isSuccess()) {
                String detail = "connect to " + p.target() + " failed: " + x.cause().getMessage();
                if (!setUp.endedAtShutdown()) {
                    telemetry.rejected(true, "connect_failed", detail, clientAddr, p.target().toString());
                }
                // Istio's source side counts the attempt too: opened and closed with response flag CONNECT
                telemetry.opened(new ConnectionInfo(true, source, p.destination(), null, null, p.service(),
                        clientAddr, p.target(), "", false), start, setUp).close(0, 0, ResponseFlags.CONNECT, detail);
                outcome.failed(client, "connect_failed", detail);
                return;
            }
            ConnectionTelemetry.Tracked t = telemetry.opened(new ConnectionInfo(true, source, p.destination(), null,
                    null, p.service(), clientAddr, p.target(), "", false), start, setUp);
            outcome.established(client, () -> startRelay(client, upstream, early, t));
        });
    }

    private void hbone(Channel client, Workload source, Route.Hbone h, InetSocketAddress clientAddr,
            List<Object> early, Outcome outcome, long start) {
        SpiffeId src = Workloads.identity(source, config.node().trustDomain());
        PoolKey key = new PoolKey(src, sourceAddress(clientAddr, h, source), h.expected(), h.l4());
        tunnel(new Attempt(client, source, src, clientAddr, early, outcome, start, null), h, h.destination(),
                h.service(), "", cert -> open(key, h.destination().getUid(), cert, client,
                        headers(h, clientAddr, source), true));
    }

    /**
     * Double HBONE: a pooled tunnel to the east-west gateway, then, inside that tunnel's stream, a connection of its
     * own (mTLS with the destination workload, HTTP/2) whose CONNECT carries {@code x-forwarded-network}. The inner
     * connection lives as long as the application connection: it closes, and with it the outer stream, when the
     * inner tunnel ends.
     */
    private void doubleHbone(Channel client, Workload source, Route.DoubleHbone d, InetSocketAddress clientAddr,
            List<Object> early, Outcome outcome, long start) {
        Route.Hbone gw = d.gateway();
        SpiffeId src = Workloads.identity(source, config.node().trustDomain());
        PoolKey outerKey = new PoolKey(src, sourceAddress(clientAddr, gw, source), gw.expected(), gw.l4());
        PoolKey innerKey = new PoolKey(src, null, d.expected(), gw.l4());
        Http2Headers outerHeaders = headers(gw, clientAddr, source);
        Http2Headers innerHeaders = headers(gw, clientAddr, source)
                .add(io.jmesh.ztunnel.tunnel.HboneHeaders.FORWARDED_NETWORK, config.node().network());
        tunnel(new Attempt(client, source, src, clientAddr, early, outcome, start, null), gw, d.destination(),
                d.service(), "through network gateway " + gw.l4() + ": ",
                cert -> open(outerKey, gw.destination().getUid(), cert, client, outerHeaders, true)
                        .compose(outer -> pool.through(outer.stream(), innerKey, d.destination().getUid(), cert)
                                .onFailure(e -> outer.stream().close()))
                        .compose(inner -> inner.open(innerHeaders, client.closeFuture())
                                .onFailure(e -> inner.channel().close())
                                .map(stream -> {
                                    stream.closeFuture().addListener(f -> inner.channel().close());
                                    return new Opened(inner, stream);
                                })));
    }

    /**
     * A tunnel attempt, single or double HBONE: the source's certificate, then {@code opening} with it; its result,
     * or its end at shutdown, goes to {@link #finish}. Registered for shutdown first ({@link #endable}): shutdown
     * ends it at once, whatever step it is at, and closes the client, which cancels a CONNECT waiting for its answer.
     *
     * @param a the attempt, its {@code setUp} still to be made here
     */
    private void tunnel(Attempt a, Route.Hbone via, Workload destination, io.jmesh.proto.istio.workload.Service service,
            String failurePrefix,
            java.util.function.Function<io.jmesh.ztunnel.identity.WorkloadCertificate, io.vertx.core.Future<Opened>>
                    opening) {
        io.vertx.core.Promise<Opened> attempt = io.vertx.core.Promise.promise();
        Attempt registered = a.withSetUp(telemetry.settingUp(endable(attempt, a.client())));
        attempt.future().onComplete(ar -> finish(ar, registered, via, destination, service, failurePrefix));
        identities.certificate(a.src())
                .recover(e -> noCertificate(a.src(), e))
                .compose(opening)
                .onComplete(ar -> settle(attempt, ar));
    }

    /**
     * The tunnel attempts' end at shutdown ({@link ConnectionTelemetry#settingUp}): fails {@code attempt} at once,
     * so that its failure closes the connection as ended within close's wait, whatever step it is at (a certificate
     * still being fetched ends only with the CA's answer or {@code identity.csrTimeout}, a CONNECT with its cancel),
     * and closes the client, which cancels a CONNECT waiting for its answer. Runs on the shutdown thread: the
     * failure's handling ({@link #finish}) touches only what bears that (telemetry, the client's close, the
     * outcome's reply, which goes through the client's loop).
     */
    private static Runnable endable(io.vertx.core.Promise<Opened> attempt, Channel client) {
        return () -> {
            attempt.tryFail(ENDED_AT_SHUTDOWN);
            client.close();
        };
    }

    /**
     * Hands the attempt's result to {@code attempt}, unless shutdown failed it first: a tunnel that opened anyway
     * (its 200 raced the cancel) is then closed, relaying nothing (its stream's close closes a double-HBONE inner
     * connection too). A failed step released what it made already.
     */
    private static void settle(io.vertx.core.Promise<Opened> attempt, io.vertx.core.AsyncResult<Opened> ar) {
        boolean handed = ar.succeeded() ? attempt.tryComplete(ar.result()) : attempt.tryFail(ar.cause());
        if (!handed && ar.succeeded()) {
            ar.result().stream().close();
        }
    }

    private static <T> io.vertx.core.Future<T> noCertificate(SpiffeId src, Throwable e) {
        return io.vertx.core.Future.failedFuture(new ResponseFlags.Failure(ResponseFlags.IDENTITY_ERROR,
                "no certificate for " + src.uri() + ": " + e.getMessage()));
    }

    /**
     * A CONNECT stream on a pooled connection for {@code key}, answered 200. A stream the peer left unprocessed (it
     * went away, or refused the stream) is sent once more, on another connection: the pool has retired the first.
     * The stream is cancelled if {@code client} closes before the answer.
     */
    private io.vertx.core.Future<Opened> open(PoolKey key, String uid,
            io.jmesh.ztunnel.identity.WorkloadCertificate cert, Channel client, Http2Headers headers, boolean retry) {
        return pool.acquire(key, uid, cert, client.eventLoop())
                .compose(conn -> conn.open(headers, client.closeFuture()).map(stream -> new Opened(conn, stream)))
                .recover(e -> retry && e instanceof HboneConnection.UnansweredException u && u.retryable()
                        ? open(key, uid, cert, client, headers, false) : io.vertx.core.Future.failedFuture(e));
    }

    /**
     * An application connection waiting for its tunnel; {@code start} as {@link #follow}'s, {@code setUp} its
     * registration for shutdown, which the connection it becomes keeps.
     */
    private record Attempt(Channel client, Workload source, SpiffeId src, InetSocketAddress clientAddr,
            List<Object> early, Outcome outcome, long start, ConnectionTelemetry.SetUp setUp) {

        Attempt withSetUp(ConnectionTelemetry.SetUp registered) {
            return new Attempt(client, source, src, clientAddr, early, outcome, start, registered);
        }
    }

    /** A tunnel whose CONNECT was answered 200, on {@code conn} (the connection that proved the peer's identity). */
    private record Opened(HboneConnection conn, io.netty.handler.codec.http2.Http2StreamChannel stream) {}

    /**
     * Relays once the tunnel is open, or refuses the client with the reason (counted and logged, and, as Istio's
     * source side does, reported as a connection opened and closed with the failure's response flag).
     */
    private void finish(io.vertx.core.AsyncResult<Opened> ar, Attempt a, Route.Hbone via, Workload destination,
            io.jmesh.proto.istio.workload.Service service, String failurePrefix) {
        if (ar.failed()) {
            String reason = ar.cause() instanceof HboneConnection.StatusException s
                    ? "hbone_status_" + s.status() : "hbone_connect";
            String detail = failurePrefix + ar.cause().getMessage();
            if (!a.setUp().endedAtShutdown()) { // else ztunnel cancelled it: no refusal
                telemetry.rejected(true, reason, detail, a.clientAddr(), via.authority());
            }
            // no peer was verified: the destination's identity is the one the tunnel was for
            telemetry.opened(new ConnectionInfo(true, a.source(), destination, a.src(),
                    destination == null ? null : Workloads.identity(destination, config.node().trustDomain()),
                    service, a.clientAddr(), via.l4(), via.authority(), true), a.start(), a.setUp())
                    .close(0, 0, ResponseFlags.of(ar.cause()), detail);
            a.outcome().failed(a.client(), reason, detail);
            return;
        }
        var stream = ar.result().stream();
        ConnectionTelemetry.Tracked t = telemetry.opened(new ConnectionInfo(true, a.source(), destination, a.src(),
                ar.result().conn().peer(), service, a.clientAddr(), via.l4(), via.authority(), true), a.start(),
                a.setUp());
        Channel client = a.client();
        // answered: closing the client no longer cancels the stream, so shutdown closes both until the relay starts
        a.setUp().endWith(() -> {
            stream.close();
            client.close();
        });
        onStreamLoop(client, stream, () -> a.outcome().established(client, () -> {
            startRelay(client, stream, a.early(), t);
            HboneConnection.releaseEarlyData(stream);
        }), () -> {
            t.close(0, 0, "CONNECT", "client socket lost while moving to the tunnel's thread");
            stream.close();
            client.close();
        });
    }

    /**
     * Moves the application socket onto the I/O thread of its pooled HBONE connection before the relay starts, so
     * no buffer of the tunnel ever crosses threads (the pool stays keyed as Istio's: one pool per key, shared by
     * sockets accepted on any thread). Then runs {@code then}; {@code lost} if the socket could not move.
     */
    private static void onStreamLoop(Channel client, Channel stream, Runnable then, Runnable lost) {
        io.netty.channel.EventLoop target = stream.eventLoop();
        if (client.eventLoop() == target || !client.isActive()) {
            then.run();
            return;
        }
        client.deregister().addListener(d -> {
            if (!d.isSuccess()) {
                lost.run();
                return;
            }
            target.register(client).addListener(r -> {
                if (r.isSuccess() && client.isOpen()) {
                    then.run();
                } else {
                    lost.run();
                }
            });
        });
    }

    /**
     * The address a tunnel leaves from. Local mode: the source workload's own (loopback) address, so the peer sees
     * it as Istio's in-pod mode does. Transparent mode: the source pod's address (spoofed with IP_TRANSPARENT), so
     * the destination application sees the original client; except towards this node's own HBONE listener, where a
     * spoofed pod address would route the replies to the pod instead of back to ztunnel. Always of the family of the
     * HBONE address: a dual-stack pod that reached an IPv6 service whose endpoint is dialled over IPv4 leaves from
     * its IPv4 address (or, having none, from whatever the kernel picks).
     */
    private java.net.InetAddress sourceAddress(InetSocketAddress client, Route.Hbone h, Workload source) {
        var l = config.listeners();
        boolean spoof = l.inboundPerWorkload()
                || l.transparent() && !(h.destination() != null && config.node().name().equals(h.destination().getNode()));
        if (!spoof) {
            return null;
        }
        boolean v4 = h.l4().getAddress() instanceof java.net.Inet4Address;
        if ((client.getAddress() instanceof java.net.Inet4Address) == v4) {
            return client.getAddress();
        }
        for (var raw : source.getAddressesList()) {
            if ((raw.size() == 4) == v4) {
                try {
                    return java.net.InetAddress.getByAddress(raw.toByteArray());
                } catch (java.net.UnknownHostException e) {
                    return null; // validated on the way in
                }
            }
        }
        return null;
    }

    /**
     * A passthrough to a loopback address asked by a client that is not on the loopback itself (a pod through
     * SOCKS5 on the node address): from ztunnel's network namespace that is the node's loopback, the kubelet's and
     * ztunnel's own services, which the pod could not reach by itself. Local-mode workloads live on the loopback
     * and in-pod sockets are made in the pod's namespace, whose loopback is the pod's own: both stay allowed.
     */
    static boolean reachesNodeLoopback(InetSocketAddress target, InetSocketAddress client, boolean inPodNamespace) {
        InetAddress to = target.getAddress();
        return (to.isLoopbackAddress() || to.isAnyLocalAddress()) && !client.getAddress().isLoopbackAddress()
                && !inPodNamespace;
    }

    /** Transparent mode leaves from the pod's address, except towards this node itself (replies would miss us). */
    private boolean spoofsPassthrough(InetSocketAddress target) {
        var l = config.listeners();
        return l.transparent() && !l.inboundPerWorkload() && net.epoll() && !target.getAddress().isLoopbackAddress()
                && !target.getAddress().getHostAddress().equals(config.node().address());
    }

    private static void startRelay(Channel client, Channel upstream, List<Object> early,
            ConnectionTelemetry.Tracked t) {
        if (!client.isActive()) {
            upstream.close();
            early.forEach(io.netty.util.ReferenceCountUtil::release);
            t.close(0, 0, "CONNECT", "client went away before the tunnel was ready");
            return;
        }
        Relay relay = Relay.start(client, upstream, t.bytesFromSource(), t.bytesToSource(),
                (fromSource, toSource, error) -> t.close(fromSource, toSource, error == null ? "-" : "CONNECT", error));
        t.relayedBy(relay::bytesAToB, relay::bytesBToA, relay::close);
        for (Object m : early) {
            client.pipeline().fireChannelRead(m);
        }
        if (!early.isEmpty()) {
            early.clear();
            client.pipeline().fireChannelReadComplete();
        }
    }

    /** CONNECT with Istio's headers: forwarded (for=, host=), baggage of the source, a random traceparent. */
    private Http2Headers headers(Route.Hbone h, InetSocketAddress client, Workload source) {
        Http2Headers headers = new DefaultHttp2Headers().method("CONNECT").authority(h.authority());
        String forwarded = "for=\"" + IpLiteral.hostPort(client.getAddress(), client.getPort()) + "\"";
        if (h.service() != null) {
            forwarded += ";host=" + h.service().getHostname();
        }
        headers.add("forwarded", forwarded);
        String baggage = Workloads.baggage(source);
        if (!baggage.isEmpty()) {
            headers.add("baggage", baggage);
        }
        headers.add("traceparent", traceparent());
        return headers;
    }

    /** A W3C traceparent with random trace and span ids (built by hand: String.format costs microseconds per tunnel). */
    static String traceparent() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        char[] c = new char[55];
        c[0] = '0';
        c[1] = '0';
        c[2] = '-';
        hex(r.nextLong(), c, 3);
        hex(r.nextLong(), c, 19);
        c[35] = '-';
        hex(r.nextLong() | 1, c, 36); // a span id is never all zeros
        c[52] = '-';
        c[53] = '0';
        c[54] = '0';
        return new String(c);
    }

    private static void hex(long v, char[] out, int at) {
        for (int i = 15; i >= 0; i--) {
            out[at + i] = Character.forDigit((int) (v & 0xf), 16);
            v >>>= 4;
        }
    }

}
