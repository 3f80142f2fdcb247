package io.jmesh.ztunnel.outbound;

import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tunnel.EarlyInput;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.EpollChannelOption;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Outbound listeners on the node address: SOCKS5 (15080) and transparent capture (15001, {@code IP_TRANSPARENT}
 * on epoll: under TPROXY the accepted socket's local address is the original destination).
 */
public final class OutboundListeners {

    private static final Logger log = LoggerFactory.getLogger(OutboundListeners.class);

    private final ZtunnelConfig config;
    private final OutboundProxy proxy;
    private final ConnectionTelemetry telemetry;
    private final NetTransport net;
    private final InetAddress nodeAddress;
    private final Capture capture;
    private final List<Channel> channels = new ArrayList<>();
    private volatile Channel socks;

    /**
     * How a captured connection (15001) names its source workload and where it was headed: by default (node-level
     * TPROXY) the workload with the client's address, and the socket's local address.
     */
    public interface Capture {
        /** The workload the connection comes from, or null: refused as {@code unknown_source}. */
        Workload source(Channel ch);

        /** The original destination, or null for a connection made straight to the capture port (refused). */
        InetSocketAddress destination(Channel ch);

        /**
         * Called when {@link #source} found nothing: the source once discovery names it, or null when it will not
         * (refused then). Nothing is waited for by default: a node's capture serves only workloads already known.
         */
        default Future<Workload> sourceLater(Channel ch) {
            return Future.succeededFuture();
        }
    }

    public OutboundListeners(ZtunnelConfig config, OutboundProxy proxy, ConnectionTelemetry telemetry,
            NetTransport net, InetAddress nodeAddress) {
        this(config, proxy, telemetry, net, nodeAddress, null);
    }

    public OutboundListeners(ZtunnelConfig config, OutboundProxy proxy, ConnectionTelemetry telemetry,
            NetTransport net, InetAddress nodeAddress, Capture capture) {
        this.config = config;
        this.proxy = proxy;
        this.telemetry = telemetry;
        this.net = net;
        this.nodeAddress = nodeAddress;
        this.capture = capture != null ? capture : new Capture() {
            @Override
            public Workload source(Channel ch) {
                return proxy.source((InetSocketAddress) ch.remoteAddress());
            }

            @Override
            public InetSocketAddress destination(Channel ch) {
                InetSocketAddress dst = (InetSocketAddress) ch.localAddress();
                boolean self = dst.getPort() == config.listeners().outboundCapture()
                        && (dst.getAddress().equals(nodeAddress) || dst.getAddress().isLoopbackAddress());
                return self ? null : dst;
            }
        };
    }

    public Future<Void> start() {
        return start(null);
    }

    /**
     * Binds the listeners; with {@code captureTwin} (transparent capture, see {@code CaptureRules.twin}) the capture
     * listener also on that address, for the other IP family's connections.
     */
    public Future<Void> start(InetAddress captureTwin) {
        List<Future<?>> binds = new ArrayList<>();
        var l = config.listeners();
        if (l.socks5() >= 0) {
            binds.add(bind(new InetSocketAddress(nodeAddress, l.socks5()), new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    Socks5Handler.install(ch, proxy, telemetry, config.socks5().handshakeTimeout());
                }
            }, false).map(c -> socks = c));
        }
        if (l.outboundCapture() >= 0) {
            ChannelInitializer<Channel> captured = new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    captured(ch);
                }
            };
            binds.add(bind(new InetSocketAddress(nodeAddress, l.outboundCapture()), captured, l.transparent()));
            if (captureTwin != null && l.transparent()) {
                binds.add(io.jmesh.ztunnel.capture.OtherFamilyListeners.optional(
                        bind(new InetSocketAddress(captureTwin, l.outboundCapture()), captured, true)));
            }
        }
        return Future.join(binds).mapEmpty();
    }

    /** A captured connection: TPROXY keeps the original destination as the local address, REDIRECT in conntrack. */
    private void captured(Channel ch) {
        ch.config().setAutoRead(false);
        // first: while the source is looked for, a client that writes and half-closes at once has its bytes and FIN
        // read by epoll's RDHUP even with reads off, and they must not fall off the end of the pipeline
        EarlyInput early = EarlyInput.install(ch);
        Workload source = capture.source(ch);
        if (source == null && proxy.onDemand()) {
            // on-demand discovery: ask policy for the client's workload, then look again
            WorkloadStore.afterAnswer(proxy.demandSource(((InetSocketAddress) ch.remoteAddress()).getAddress()), ch,
                    () -> sourceLater(ch, early));
            return;
        }
        if (source == null) {
            sourceLater(ch, early);
            return;
        }
        captured(ch, source, early);
    }

    /** Still no source: goes on with the one the capture may yet learn of. */
    private void sourceLater(Channel ch, EarlyInput early) {
        Workload source = capture.source(ch);
        if (source != null) {
            captured(ch, source, early);
            return;
        }
        Future<Workload> later = capture.sourceLater(ch);
        WorkloadStore.afterAnswer(later, ch, () -> captured(ch, later.result(), early));
    }

    /** A captured connection from {@code source} (null: not a workload on this node, refused). */
    private void captured(Channel ch, Workload source, EarlyInput early) {
        InetSocketAddress client = (InetSocketAddress) ch.remoteAddress();
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        if (source == null) {
            telemetry.rejected(true, "unknown_source", "source address " + client.getAddress().getHostAddress()
                    + " is not a workload on this node", client, local.toString());
            ch.close();
            return;
        }
        InetSocketAddress dst = capture.destination(ch);
        if (dst == null) {
            telemetry.rejected(true, "illegal_port", "connection to the capture port itself (no capture rule?)",
                    client, local.toString());
            ch.close();
            return;
        }
        proxy.proxy(ch, source, dst.getAddress().getHostAddress(), dst.getPort(), early.reads(),
                new OutboundProxy.Outcome() {
                    @Override
                    public void established(Channel c, Runnable startRelay) {
                        c.eventLoop().execute(() -> early.handOver(c, startRelay));
                    }

                    @Override
                    public void failed(Channel c, String reason, String detail) {
                        c.close();
                    }
                });
    }

    private Future<Channel> bind(InetSocketAddress addr, ChannelInitializer<Channel> init, boolean transparent) {
        ServerBootstrap b = net.server().childHandler(init);
        if (transparent && net.epoll()) {
            b.option(EpollChannelOption.IP_TRANSPARENT, true);
        }
        Promise<Channel> p = Promise.promise();
        ChannelFuture f = b.bind(addr);
        f.addListener(x -> {
            if (x.isSuccess()) {
                synchronized (channels) {
                    channels.add(f.channel());
                }
                log.atInfo().addKeyValue("address", String.valueOf(f.channel().localAddress())).log("listening");
                p.complete(f.channel());
            } else {
                p.fail(new IllegalStateException("bind " + addr + ": " + x.cause().getMessage(), x.cause()));
            }
        });
        return p.future();
    }

    /** Bound address of the SOCKS5 listener (tests use port 0). */
    public InetSocketAddress socks5Address() {
        Channel c = socks;
        return c == null ? null : (InetSocketAddress) c.localAddress();
    }

    public void stopAccepting() {
        synchronized (channels) {
            channels.forEach(Channel::close);
        }
    }
}
