package io.jmesh.ztunnel.pool;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.identity.WorkloadCertificate;
import io.jmesh.ztunnel.telemetry.ResponseFlags;
import io.jmesh.ztunnel.tls.PeerIdentity;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.jmesh.ztunnel.trust.RevokedConnections;
import io.jmesh.ztunnel.tunnel.Http2Setup;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.jmesh.ztunnel.tunnel.StreamBytes;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.jmesh.core.tls.TlsPolicy;
import io.netty.util.ReferenceCountUtil;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Outbound HBONE connections shared by tunnels with the same {@link PoolKey}.
 *
 * <p>Invariants: a connection serves one key only; concurrent requests for a key without a usable connection
 * share one dial; a connection at its stream cap is skipped and another one is dialled; a connection idle for
 * {@code pool.idleTimeout} is closed; when the workload behind a destination address changes uid (pod IP reuse)
 * its connections are dropped; the server must prove one of the expected identities or the dial fails. No lock is
 * taken: connection lists are concurrent queues, stream slots are CAS-reserved.
 */
public final class HbonePool {

    private static final Logger log = LoggerFactory.getLogger(HbonePool.class);
    /**
     * New connections an acquire may get back unusable (closed, retired by a GOAWAY, or allowing no stream, before it
     * had one) before it gives up. A new connection whose streams went to the other tunnels waiting on the same dial does not
     * count: the pool grew by one, so each such round is progress, bounded by {@code hbone.connectTimeout} overall.
     */
    private static final int MAX_UNUSABLE = 4;

    private final NetTransport net;
    private final ZtunnelConfig config;
    /**
     * Where connections are kept: per {@link PoolKey}, or per (key, event loop) with {@code pool.perEventLoop}, so a
     * tunnel's TCP socket and its HBONE connection share a thread and no buffer crosses threads.
     */
    record Slot(PoolKey key, EventLoop loop) {}

    private final Map<Slot, Queue<HboneConnection>> connections = new ConcurrentHashMap<>();
    private final Map<Slot, Future<HboneConnection>> dialing = new ConcurrentHashMap<>();
    private final java.util.Set<HboneConnection> open = ConcurrentHashMap.newKeySet();
    /** Double HBONE's inner connections (not pooled): a new CRL must reach them too, they authenticated the peer. */
    private final java.util.Set<HboneConnection> tunnelled = ConcurrentHashMap.newKeySet();
    /** Local addresses of the connections dialled from a node address rather than a pod's (see {@link #dialledFrom}). */
    private final java.util.Set<InetSocketAddress> unspoofed = ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicLong dialled = new java.util.concurrent.atomic.AtomicLong();
    private final Counter dials;
    private final PoolMetrics metrics;
    private final long timerId;
    private final Vertx vertx;
    private volatile boolean draining;

    public HbonePool(Vertx vertx, NetTransport net, ZtunnelConfig config, PrometheusRegistry metrics) {
        this(vertx, net, config, new PoolMetrics(metrics));
    }

    /** A pool whose metrics are shared with others (in-pod mode: one pool per pod). */
    public HbonePool(Vertx vertx, NetTransport net, ZtunnelConfig config, PoolMetrics metrics) {
        this.vertx = vertx;
        this.net = net;
        this.config = config;
        this.metrics = metrics;
        this.dials = metrics.dials;
        metrics.add(this);
        long sweep = Math.max(100, Math.min(1000, config.pool().idleTimeout().toMillis() / 2));
        this.timerId = vertx.setPeriodic(sweep, id -> closeIdle());
    }

    /** A connection with a reserved stream slot for {@code key}. */
    public Future<HboneConnection> acquire(PoolKey key, String destinationUid, WorkloadCertificate cert,
            EventLoop loop) {
        long deadline = System.nanoTime() + config.hbone().connectTimeout().toNanos();
        return attempt(key, destinationUid, cert, loop, 0, deadline);
    }

    /**
     * One round: a free slot on a pooled connection, else a new connection (this caller's dial, or the one in flight
     * for the key) and a slot on it, else another round.
     *
     * @param unusable new connections this acquire got back unusable so far
     */
    private Future<HboneConnection> attempt(PoolKey key, String uid, WorkloadCertificate cert, EventLoop loop,
            int unusable, long deadline) {
        if (draining) {
            return drainingTunnel(key, uid, cert, loop);
        }
        Slot slot = new Slot(key, config.pool().perEventLoop() ? loop : null);
        Queue<HboneConnection> q = connections.get(slot);
        if (q != null) {
            for (HboneConnection c : q) {
                if (c.tryReserve()) {
                    return Future.succeededFuture(c);
                }
            }
        }
        if (unusable >= MAX_UNUSABLE) {
            return Future.failedFuture("no hbone connection slot to " + key.destination() + ": " + unusable
                    + " new connections closed, went away or allowed no stream (SETTINGS_MAX_CONCURRENT_STREAMS 0)"
                    + " before carrying one");
        }
        if (System.nanoTime() - deadline > 0) {
            return Future.failedFuture("no hbone connection slot to " + key.destination() + " within "
                    + config.hbone().connectTimeout().toMillis() + " ms: other tunnels took every new one");
        }
        Promise<HboneConnection> mine = Promise.promise();
        Future<HboneConnection> shared = dialing.putIfAbsent(slot, mine.future());
        if (shared == null) {
            shared = mine.future();
            dial(key, uid, cert, loop).onComplete(ar -> {
                dialing.remove(slot, mine.future());
                if (ar.succeeded()) {
                    dialled.incrementAndGet();
                    HboneConnection c = ar.result();
                    c.slot = slot;
                    connections.computeIfAbsent(slot, k -> new ConcurrentLinkedQueue<>()).add(c);
                    open.add(c);
                    c.channel().closeFuture().addListener(f -> {
                        remove(c);
                        open.remove(c);
                    });
                }
                mine.handle(ar);
            });
        }
        // a full new connection means the tunnels that waited with us took its streams: the pool grew, go again
        return shared.compose(c -> {
            if (c.tryReserve()) {
                return Future.succeededFuture(c);
            }
            if (c.usable()) {
                return attempt(key, uid, cert, loop, unusable, deadline);
            }
            discardIdle(c);
            return attempt(key, uid, cert, loop, unusable + 1, deadline);
        });
    }

    /**
     * A new connection that cannot take a stream (a GOAWAY before the pool knew it, or a peer allowing none) is not
     * kept when it carries none: each round would otherwise leave one behind until the idle timeout.
     */
    private void discardIdle(HboneConnection c) {
        if (c.streams() > 0) {
            return; // a limit lowered after other tunnels took streams: it closes, or serves again, as they end
        }
        c.retire();
        remove(c);
        if (c.streams() == 0) {
            c.channel().close();
        }
    }

    /**
     * A tunnel asked for while draining: its connection was accepted before the listeners closed (a new ztunnel takes
     * the new ones), so it is served, as Istio's ztunnel serves what it accepted. The pool is retired, so it gets a
     * connection of its own, retired at once: it closes with its tunnel and the drain still ends.
     */
    private Future<HboneConnection> drainingTunnel(PoolKey key, String uid, WorkloadCertificate cert, EventLoop loop) {
        return dial(key, uid, cert, loop).compose(c -> {
            dialled.incrementAndGet();
            open.add(c);
            c.channel().closeFuture().addListener(f -> open.remove(c));
            boolean reserved = c.tryReserve();
            c.retire(); // after the reservation: the connection closes when that stream ends
            if (!reserved) {
                c.channel().close();
                return Future.failedFuture("no hbone connection slot to " + key.destination()
                        + " while draining: the new connection closed or went away before carrying a stream");
            }
            return Future.succeededFuture(c);
        });
    }

    private void remove(HboneConnection c) {
        if (c.slot == null) {
            return; // never pooled (double HBONE's inner connection)
        }
        Queue<HboneConnection> q = connections.get(c.slot);
        if (q != null) {
            q.remove(c);
            if (q.isEmpty()) {
                connections.remove(c.slot, q);
            }
        }
    }

    /**
     * An HBONE connection inside an established tunnel, double HBONE's inner hop: mTLS with {@code cert} and
     * HTTP/2 over the {@code outer} stream's DATA frames, the peer checked against {@code key}'s expected
     * identities as for a pooled dial. Not pooled (as in Istio: one inner connection per application
     * connection); closing it closes the outer stream.
     */
    public Future<HboneConnection> through(Http2StreamChannel outer, PoolKey key, String destinationUid,
            WorkloadCertificate cert) {
        Promise<HboneConnection> p = Promise.promise();
        outer.pipeline().addLast("stream-bytes", new StreamBytes());
        install(outer, key, destinationUid, cert, p);
        HboneConnection.releaseEarlyData(outer);
        outer.config().setAutoRead(true);
        return p.future().onSuccess(c -> {
            tunnelled.add(c);
            c.channel().closeFuture().addListener(f -> tunnelled.remove(c));
        });
    }

    /**
     * TLS (no SNI), the peer check and HTTP/2 on a connected channel; {@code p} completes after the handshake, once the
     * server's SETTINGS are in.
     */
    private void install(Channel ch, PoolKey key, String uid, WorkloadCertificate cert, Promise<HboneConnection> p) {
        ZtunnelConfig.Hbone h = config.hbone();
        Http2FrameCodec codec = Http2Setup.clientCodec(h);
        SslHandler ssl = cert.clientContext().newHandler(ch.alloc()); // no peer host: no SNI
        FirstSettings settings = new FirstSettings(key);
        ch.pipeline().addLast("tls", ssl)
                .addLast("verify", new VerifyPeer(ssl, key, uid, codec, p, cert, settings))
                .addLast("h2", codec)
                .addLast("streams", new Http2MultiplexHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.close(); // server push is disabled; refuse any pushed stream
                    }
                }))
                .addLast("keepalive", Http2Setup.keepAlive(h))
                .addLast("settings", settings)
                .addLast("goaway", new GoAwayWatcher())
                .addLast("errors", io.jmesh.ztunnel.tunnel.QuietErrors.INSTANCE);
        Http2Setup.paceSharedStreams(ch, h);
    }

    private Future<HboneConnection> dial(PoolKey key, String uid, WorkloadCertificate cert, EventLoop loop) {
        Promise<HboneConnection> p = Promise.promise();
        ZtunnelConfig.Hbone h = config.hbone();
        ChannelInitializer<Channel> init = new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                install(ch, key, uid, cert, p);
            }
        };
        var bootstrap = net.client(loop, h.connectTimeout()).option(io.netty.channel.ChannelOption.AUTO_READ, true)
                .option(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, false)
                .handler(init);
        if (key.sourceIp() != null && config.listeners().transparent() && net.epoll()) {
            // transparent mode: leave from the source pod's own address (not one of the node's), so the far side
            // sees the original client address; needs CAP_NET_ADMIN, replies come back by the capture mark
            bootstrap.option(io.netty.channel.epoll.EpollChannelOption.IP_TRANSPARENT, true);
        }
        var connect = bootstrap.connect(key.destination(), key.sourceIp() == null ? null : new InetSocketAddress(key.sourceIp(), 0));
        connect.addListener(f -> {
            if (f.isSuccess() && key.sourceIp() == null && config.listeners().transparent()) {
                // before the handshake starts (channelActive follows the connect listeners)
                Channel ch = connect.channel();
                InetSocketAddress local = (InetSocketAddress) ch.localAddress();
                unspoofed.add(local);
                ch.closeFuture().addListener(x -> unspoofed.remove(local));
            }
            if (!f.isSuccess()) {
                dials.labelValues("connect_failed").inc();
                boolean timedOut = f.cause() instanceof io.netty.channel.ConnectTimeoutException;
                String hint = timedOut
                        ? " (timed out: maybe a network policy blocks HBONE port " + key.destination().getPort() + ")"
                        : "";
                // Istio reports a connect to the HBONE port that timed out as NETWORK_POLICY
                p.tryFail(new ResponseFlags.Failure(timedOut ? ResponseFlags.NETWORK_POLICY : ResponseFlags.CONNECT,
                        "connect to " + key.destination() + " failed: " + f.cause().getMessage() + hint));
            }
        });
        return p.future();
    }

    /**
     * Whether {@code peer} is the local end of an HBONE connection this pool dialled without a pod's address: in
     * transparent mode, a tunnel to a pod on this node, looped back to our own 15008. The inbound side believes the
     * {@code forwarded for=} client address of such a tunnel; it knows it by this exact match, not by the source
     * address, which the kernel picks (the node address for IPv4, the pod interface's for IPv6).
     */
    public boolean dialledFrom(InetSocketAddress peer) {
        return !unspoofed.isEmpty() && unspoofed.contains(peer);
    }

    /** Completes the dial after the handshake: ALPN h2, and a peer identity in the expected set. */
    private final class VerifyPeer extends ChannelInboundHandlerAdapter {
        private final SslHandler ssl;
        private final PoolKey key;
        private final String uid;
        private final Http2FrameCodec codec;
        private final Promise<HboneConnection> promise;
        private final WorkloadCertificate local;
        private final FirstSettings settings;

        VerifyPeer(SslHandler ssl, PoolKey key, String uid, Http2FrameCodec codec, Promise<HboneConnection> promise,
                WorkloadCertificate local, FirstSettings settings) {
            this.local = local;
            this.settings = settings;
            this.ssl = ssl;
            this.key = key;
            this.uid = uid;
            this.codec = codec;
            this.promise = promise;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent done) {
                ctx.pipeline().remove(this);
                if (!done.isSuccess()) {
                    boolean revoked = PeerIdentity.revoked(done.cause());
                    dials.labelValues(revoked ? "revoked" : "tls_failure").inc();
                    promise.tryFail(new ResponseFlags.Failure(revoked ? ResponseFlags.CERT_REVOKED
                            : ResponseFlags.TLS_FAILURE, "tls handshake with " + key.destination() + " failed: "
                            + root(done.cause())));
                } else if (!"h2".equals(ssl.applicationProtocol())) {
                    dials.labelValues("alpn").inc();
                    promise.tryFail(tls(key.destination() + " did not negotiate ALPN h2"));
                    ctx.close();
                } else if (!TlsPolicy.CIPHER_SUITES.contains(ssl.engine().getSession().getCipherSuite())) {
                    dials.labelValues("cipher").inc();
                    promise.tryFail(tls(key.destination() + " negotiated "
                            + ssl.engine().getSession().getCipherSuite() + " (expected: " + TlsPolicy.CIPHER_SUITES
                            + ")"));
                    ctx.close();
                } else {
                    List<SpiffeId> ids = PeerIdentity.of(ssl);
                    SpiffeId peer = PeerIdentity.matching(ids, key.expected());
                    if (peer == null) {
                        dials.labelValues("identity_mismatch").inc();
                        promise.tryFail(tls("peer " + key.destination() + " presented " + ids + ", expected one of "
                                + key.expected()));
                        ctx.close();
                    } else {
                        Http2Setup.growConnectionWindow(ctx.channel(), config.hbone());
                        settings.hold(ctx.channel(), new HboneConnection(ctx.channel(), codec, key, uid, peer,
                                config.pool().maxStreamsPerConnection(), PeerIdentity.chain(ssl), local.chain()),
                                promise);
                    }
                }
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            promise.tryFail(tls("connection to " + key.destination() + " closed during the handshake"));
            ctx.fireChannelInactive();
        }

        /** A dial that failed in or right after the TLS handshake: reported as Istio's TLS_FAILURE. */
        private static ResponseFlags.Failure tls(String message) {
            return new ResponseFlags.Failure(ResponseFlags.TLS_FAILURE, message);
        }
    }

    /**
     * Holds a verified connection back until the server's SETTINGS (its connection preface) is read: only then is its
     * {@code MAX_CONCURRENT_STREAMS} known, and tunnels waiting on the dial must not take more streams than the peer
     * allows (RFC 9113 §5.1.2; a server enforcing it refuses the excess). In TLS 1.3 the client's handshake ends
     * before the server has even seen our certificate, so a server that refuses it closes here, with its alert.
     */
    private final class FirstSettings extends ChannelInboundHandlerAdapter {
        private final PoolKey key;
        private boolean seen;
        private Throwable error;
        private HboneConnection verified;
        private Promise<HboneConnection> promise;
        private io.netty.util.concurrent.ScheduledFuture<?> timeout;

        FirstSettings(PoolKey key) {
            this.key = key;
        }

        /** The handshake and the peer check passed (on the event loop): complete once the SETTINGS are in. */
        void hold(Channel ch, HboneConnection c, Promise<HboneConnection> p) {
            verified = c;
            promise = p;
            if (seen) {
                complete(ch);
                return;
            }
            long ms = config.hbone().connectTimeout().toMillis();
            timeout = ch.eventLoop().schedule(() -> {
                if (!p.future().isComplete()) {
                    dials.labelValues("no_settings").inc();
                    p.tryFail(new ResponseFlags.Failure(ResponseFlags.H2_HANDSHAKE_FAILURE, "hbone peer "
                            + key.destination() + " sent no HTTP/2 SETTINGS within " + ms + " ms of the TLS handshake"));
                    Http2Setup.drop(ch, "no HTTP/2 SETTINGS from the peer");
                }
            }, ms, java.util.concurrent.TimeUnit.MILLISECONDS);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof io.netty.handler.codec.http2.Http2SettingsFrame && !seen) {
                seen = true;
                if (verified != null) {
                    complete(ctx.channel());
                }
            }
            ctx.fireChannelRead(msg);
        }

        private void complete(Channel ch) {
            if (timeout != null) {
                timeout.cancel(false);
            }
            ch.pipeline().remove(this);
            dials.labelValues("success").inc();
            promise.tryComplete(verified);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (error == null) {
                error = cause;
            }
            ctx.fireExceptionCaught(cause);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (timeout != null) {
                timeout.cancel(false);
            }
            if (promise != null && !promise.future().isComplete()) {
                // most often the server refusing our certificate: TLS 1.3 tells the client after its handshake
                boolean tls = causedBy(error, javax.net.ssl.SSLException.class);
                dials.labelValues(tls ? "tls_failure" : "no_settings").inc();
                promise.tryFail(new ResponseFlags.Failure(tls ? ResponseFlags.TLS_FAILURE
                        : ResponseFlags.H2_HANDSHAKE_FAILURE,
                        "hbone peer " + key.destination() + " closed the connection before its HTTP/2 SETTINGS"
                                + (error == null ? "" : ": " + root(error))));
            }
            ctx.fireChannelInactive();
        }
    }

    /** A GOAWAY retires the connection: no new streams; it closes when its last stream ends. */
    private final class GoAwayWatcher extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2GoAwayFrame) {
                for (HboneConnection c : open) {
                    if (c.channel() == ctx.channel()) {
                        c.retire();
                        remove(c);
                        if (c.streams() == 0) {
                            ctx.close();
                        }
                    }
                }
            }
            ReferenceCountUtil.release(msg);
        }
    }

    /**
     * Drops connections to addresses whose workload uid changed or vanished (pod IP reuse: Istio #1637): pooled ones,
     * and retired ones still carrying tunnels (a terminating pod's ztunnel sends GOAWAY before the pod goes).
     */
    public void onWorkloadsChanged(WorkloadIndex next) {
        for (HboneConnection c : open) {
            if (c.destinationUid().isEmpty() || next.workloadByUid(c.destinationUid()) != null) {
                continue;
            }
            log.atInfo().addKeyValue("destination", c.key().destination().toString())
                    .log("dropping hbone connection: destination workload changed");
            c.retire();
            remove(c);
            // its tunnels too: the address now belongs to another pod, and a graceful close would wait for tunnels
            // to a pod that is gone
            Http2Setup.drop(c.channel(), "destination workload changed (pod IP reuse)");
        }
    }

    /**
     * A new trust bundle: closes connections whose server certificate its CRL lists (the peer is no longer trusted)
     * or whose own certificate it lists (the peer will refuse it; new tunnels dial again with a re-issued
     * certificate), and, when roots were removed, those whose server chain no longer ends at a trusted root. Double
     * HBONE's inner connections too: they are the ones that authenticated the far workload.
     */
    public void closeRevoked(TrustSnapshot trust, boolean rootsRemoved, RevokedConnections revoked) {
        if (trust.revoked().isEmpty() && !rootsRemoved) {
            return;
        }
        closeRevoked(open, trust, rootsRemoved, revoked);
        closeRevoked(tunnelled, trust, rootsRemoved, revoked);
    }

    private void closeRevoked(java.util.Set<HboneConnection> among, TrustSnapshot trust, boolean rootsRemoved,
            RevokedConnections revoked) {
        for (HboneConnection c : among) {
            X509Certificate hit = trust.firstRevoked(c.peerChain());
            if (hit == null) {
                hit = trust.firstRevoked(c.localChain());
            }
            String reason = RevokedConnections.REVOKED;
            if (hit == null && rootsRemoved && c.peerChain() != null && c.peerChain().length > 0
                    && !trust.anchors(c.peerChain())) {
                hit = c.peerChain()[0];
                reason = RevokedConnections.ROOT_RETIRED;
            }
            if (hit != null) {
                X509Certificate cert = hit;
                String why = reason;
                c.retire();
                remove(c);
                c.channel().eventLoop().execute(() -> revoked.close("outbound", why, c.channel(), cert,
                        trust.version()));
            }
        }
    }

    private void closeIdle() {
        long now = System.nanoTime();
        long idle = config.pool().idleTimeout().toNanos();
        for (Queue<HboneConnection> q : connections.values()) {
            for (HboneConnection c : q) {
                if (c.streams() == 0 && now - c.idleSinceNanos() > idle) {
                    c.retire();
                    remove(c);
                    if (c.streams() == 0) {
                        c.channel().close();
                    }
                }
            }
        }
    }

    /** Pooled connections right now. */
    public int size() {
        int n = 0;
        for (Queue<HboneConnection> q : connections.values()) {
            n += q.size();
        }
        return n;
    }

    /** Every pooled connection (tests, config dump). */
    public List<HboneConnection> all() {
        List<HboneConnection> out = new ArrayList<>();
        connections.values().forEach(out::addAll);
        return out;
    }

    /**
     * Drain: no new streams on any pooled connection; idle ones close now, busy ones when their last stream ends. A
     * tunnel asked for afterwards (its connection accepted before the listeners closed) gets a connection of its own.
     */
    public void drain() {
        draining = true;
        for (HboneConnection c : all()) {
            c.retire();
            remove(c);
            if (c.streams() == 0) {
                c.channel().close();
            }
        }
    }

    /** Successful dials so far (tests). */
    public long dialled() {
        return dialled.get();
    }

    /** Connections still open (pooled or retired but carrying streams). */
    public int openConnections() {
        return open.size();
    }

    /** Closes every connection now, open tunnels and all: after the drain's deadline, or a pod's proxy stopping. */
    public void close() {
        vertx.cancelTimer(timerId);
        metrics.remove(this);
        for (HboneConnection c : open) {
            c.retire();
            Http2Setup.drop(c.channel(), "connection pool closed");
        }
        connections.clear();
    }

    private static boolean causedBy(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    private static String root(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return String.valueOf(c.getMessage());
    }
}
