package io.jmesh.ztunnel.inbound;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.TlsPolicy;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.discovery.Workloads;
import io.jmesh.ztunnel.identity.WorkloadCertificate;
import io.jmesh.ztunnel.tls.HboneTls;
import io.jmesh.ztunnel.tls.PeerIdentity;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.jmesh.ztunnel.trust.RevokedConnections;
import io.jmesh.ztunnel.tunnel.Http2Setup;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Accepted sockets of the HBONE listener (15008): picks the certificate of the local workload the socket was
 * addressed to (its local address: the pod address, whether bound per workload or kept by TPROXY), terminates
 * mutual TLS (client certificate of our trust domain required, ALPN h2), then serves HTTP/2 CONNECT streams with
 * {@link InboundStream}.
 */
final class HboneInbound extends ChannelInitializer<Channel> {

    static final AttributeKey<SpiffeId> PEER = AttributeKey.valueOf("jmesh.peer");
    /** The client's certificate chain, kept so a new CRL can close connections of now-revoked peers. */
    static final AttributeKey<X509Certificate[]> PEER_CHAIN = AttributeKey.valueOf("jmesh.peer-chain");

    private final InboundContext ctx;
    /** Open HBONE connections, for GOAWAY on drain. */
    private final Set<Channel> open = ConcurrentHashMap.newKeySet();
    /** Set by {@link #goAway}: a connection still waiting for its certificate then is closed, not served. */
    private volatile boolean draining;
    /** What Netty's HTTP/2 codec refuses by itself, before {@link InboundStream} sees it: logged and counted. */
    private final Http2Setup.ServerRefusals refusals = new Http2Setup.ServerRefusals() {
        @Override
        public void headersTooLarge(Channel ch, int streamId) {
            refused(ch, "headers_too_large", "stream " + streamId + ": header block larger than "
                    + "hbone.maxHeaderListBytes (" + ctx.config().hbone().maxHeaderListBytes() + "), answered 431");
        }

        @Override
        public void connectionError(Channel ch, Http2Error error, String message) {
            refused(ch, "http2_error", "HTTP/2 connection error " + error + ": " + message + " (GOAWAY, closed)");
        }

        @Override
        public void streamError(Channel ch, int streamId, Http2Error error, String message) {
            refused(ch, "http2_stream_error", "HTTP/2 stream error " + error + " on stream " + streamId + ": "
                    + message + " (RST_STREAM, the connection goes on)");
        }

        private void refused(Channel ch, String reason, String detail) {
            String dst = ch.localAddress() instanceof InetSocketAddress local
                    ? local.getAddress().getHostAddress() + ":" + local.getPort() : "";
            ctx.telemetry().rejected(false, reason, detail, (InetSocketAddress) ch.remoteAddress(), dst);
        }
    };

    HboneInbound(InboundContext ctx) {
        this.ctx = ctx;
    }

    @Override
    protected void initChannel(Channel ch) {
        ch.config().setAutoRead(false);
        // half-close is for relayed application sockets; an HBONE connection whose peer is gone is gone
        ch.config().setOption(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, false);
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        Workload w = ctx.store().current().workloadByIp(local.getAddress());
        if (w == null && ctx.store().onDemand()) {
            // on-demand discovery: ask policy for the workload this connection was addressed to, then look again
            // (nothing is read meanwhile)
            WorkloadStore.afterAnswer(ctx.store().demandAddress(local.getAddress()), ch,
                    () -> accept(ch, ctx.store().current().workloadByIp(local.getAddress())));
            return;
        }
        accept(ch, w);
    }

    /** An accepted connection addressed to {@code w} (null: to no known workload). */
    private void accept(Channel ch, Workload w) {
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        InetSocketAddress remote = (InetSocketAddress) ch.remoteAddress();
        if (w == null || !ctx.node().equals(w.getNode())) {
            ctx.telemetry().rejected(false, "no_local_workload", "no workload on this node has address "
                    + local.getAddress().getHostAddress() + ": cannot pick a certificate", remote,
                    local.getAddress().getHostAddress() + ":" + local.getPort());
            ch.close();
            return;
        }
        SpiffeId id = Workloads.identity(w, ctx.trustDomain());
        WorkloadCertificate now = ctx.identities().current(id);
        if (now != null) {
            install(ch, now);
            return;
        }
        ctx.identities().certificate(id).onComplete(ar -> ch.eventLoop().execute(() -> {
            if (ar.failed()) {
                ctx.telemetry().rejected(false, "no_certificate", "no certificate for " + id.uri() + ": "
                        + ar.cause().getMessage(), remote, local.toString());
                ch.close();
            } else if (ch.isActive()) {
                install(ch, ar.result());
            }
        }));
    }

    private void install(Channel ch, WorkloadCertificate cert) {
        SslHandler ssl = cert.serverContext().newHandler(ch.alloc());
        ch.pipeline().addLast("tls", ssl)
                .addLast("handshake", new HandshakeCheck(ssl))
                .addLast("h2", Http2Setup.serverCodec(ctx.config().hbone(), refusals))
                .addLast("streams", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel stream) {
                        stream.config().setWriteBufferWaterMark(io.jmesh.ztunnel.tunnel.NetTransport.STREAM_WATER_MARK);
                        stream.pipeline().addLast("connect", new InboundStream(ctx));
                    }
                }))
                .addLast("goaway", new GracefulGoAway(ctx.config().hbone().pingTimeout()))
                .addLast("keepalive", Http2Setup.keepAlive(ctx.config().hbone()))
                .addLast("errors", io.jmesh.ztunnel.tunnel.QuietErrors.INSTANCE);
        Http2Setup.paceSharedStreams(ch, ctx.config().hbone());
        // listed before the drain flag is read, so that a drain starting now reaches it one way or the other
        open.add(ch);
        ch.closeFuture().addListener(f -> open.remove(ch));
        if (draining) {
            // accepted before the listeners closed: served as any other (its peer may already have sent a CONNECT
            // with its handshake), and told at once that this ztunnel is going away
            GracefulGoAway.begin(ch);
        }
        ch.config().setAutoRead(true);
        ch.read();
    }

    /**
     * The graceful end of every open inbound HBONE connection ({@link GracefulGoAway}): peers open no new streams,
     * the CONNECTs already on their way and the open tunnels are served, and each connection closes after its last.
     */
    void goAway() {
        draining = true;
        for (Channel ch : open) {
            GracefulGoAway.begin(ch);
        }
    }

    int openConnections() {
        return open.size();
    }

    /**
     * Closes every open HBONE connection whose client chain {@code trust}'s CRL now lists or, when roots were
     * removed, no longer ends at one of its roots (on each one's loop).
     */
    void closeRevoked(TrustSnapshot trust, boolean rootsRemoved, RevokedConnections revoked) {
        if (trust.revoked().isEmpty() && !rootsRemoved) {
            return;
        }
        for (Channel ch : open) {
            ch.eventLoop().execute(() -> {
                X509Certificate[] chain = ch.attr(PEER_CHAIN).get();
                X509Certificate hit = trust.firstRevoked(chain);
                if (!ch.isActive()) {
                    return;
                }
                if (hit != null) {
                    revoked.close("inbound", RevokedConnections.REVOKED, ch, hit, trust.version());
                } else if (rootsRemoved && chain != null && chain.length > 0 && !trust.anchors(chain)) {
                    revoked.close("inbound", RevokedConnections.ROOT_RETIRED, ch, chain[0], trust.version());
                }
            });
        }
    }

    /** Checks ALPN and records the peer identity once the handshake completes; counts failures. */
    private final class HandshakeCheck extends ChannelInboundHandlerAdapter {
        private final SslHandler ssl;

        HandshakeCheck(SslHandler ssl) {
            this.ssl = ssl;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext c, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent done) {
                InetSocketAddress remote = (InetSocketAddress) c.channel().remoteAddress();
                String local = String.valueOf(c.channel().localAddress());
                if (!done.isSuccess()) {
                    ctx.telemetry().rejected(false, PeerIdentity.revoked(done.cause()) ? "revoked" : "tls_handshake",
                            "tls handshake failed: " + rootMessage(done.cause()), remote, local);
                } else if (!"h2".equals(ssl.applicationProtocol())) {
                    ctx.telemetry().rejected(false, "alpn", "peer did not negotiate ALPN h2", remote, local);
                    c.close();
                } else if (!TlsPolicy.CIPHER_SUITES.contains(ssl.engine().getSession().getCipherSuite())) {
                    // BoringSSL cannot disable a TLS 1.3 suite: a peer that insists on ChaCha20 gets it negotiated
                    ctx.telemetry().rejected(false, "cipher", "peer negotiated "
                            + ssl.engine().getSession().getCipherSuite() + " (expected: " + TlsPolicy.CIPHER_SUITES
                            + ")", remote, local);
                    c.close();
                } else if (!stillTrusted(ssl, remote, local)) {
                    c.close();
                } else {
                    List<SpiffeId> ids = PeerIdentity.of(ssl);
                    SpiffeId peer = null;
                    for (SpiffeId id : ids) {
                        if (id.trustDomain().equals(ctx.trustDomain())) {
                            peer = id;
                            break;
                        }
                    }
                    c.channel().attr(PEER).set(peer);
                    c.channel().attr(PEER_CHAIN).set(PeerIdentity.chain(ssl));
                    Http2Setup.growConnectionWindow(c.channel(), ctx.config().hbone());
                }
                c.pipeline().remove(this);
            }
            super.userEventTriggered(c, evt);
        }
    }

    /** A resumed session's client chain, verified again now (see {@link HboneTls#verifyResumedClient}). */
    private boolean stillTrusted(SslHandler ssl, InetSocketAddress remote, String local) {
        try {
            HboneTls.verifyResumedClient(ssl, ctx.identities().trust(), ctx.trustDomain());
            return true;
        } catch (CertificateException e) {
            ctx.telemetry().rejected(false, PeerIdentity.revoked(e) ? "revoked" : "tls_resumed",
                    "resumed tls session refused: " + e.getMessage(), remote, local);
            return false;
        }
    }

    static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return String.valueOf(c.getMessage());
    }
}
