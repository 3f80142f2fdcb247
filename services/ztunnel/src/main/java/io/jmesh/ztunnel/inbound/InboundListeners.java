package io.jmesh.ztunnel.inbound;

import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.capture.OtherFamilyListeners;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.bootstrap.ServerBootstrap;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inbound listeners: HBONE (15008) and, in transparent mode, plaintext (15006).
 *
 * <p>In local mode ({@code listeners.inboundPerWorkload}) 15008 is bound on every local workload's own address
 * and follows the workload set (bound when a workload arrives, closed when it leaves), as Istio's in-pod mode opens
 * listeners in each pod. Otherwise both are bound once on the node address, with {@code IP_TRANSPARENT} in
 * transparent mode so TPROXY'd connections keep the pod address as their local address.
 */
public final class InboundListeners {

    private static final Logger log = LoggerFactory.getLogger(InboundListeners.class);

    private final InboundContext ctx;
    private final HboneInbound hbone;
    private final Map<InetAddress, Channel> perWorkload = new ConcurrentHashMap<>();
    private final List<Channel> nodeLevel = new ArrayList<>();
    private volatile boolean closed;

    InboundListeners(InboundContext ctx) {
        this.ctx = ctx;
        this.hbone = new HboneInbound(ctx);
    }

    InboundContext context() {
        return ctx;
    }

    /** Binds what the current workload set and mode call for. */
    public Future<Void> start() {
        return start(null);
    }

    /**
     * The same; with {@code captureTwin} (transparent capture, see {@code CaptureRules.twin}) the node-level
     * listeners also on that address, for the other IP family's connections.
     */
    public Future<Void> start(InetAddress captureTwin) {
        List<Future<?>> binds = new ArrayList<>();
        var l = ctx.config().listeners();
        List<InetAddress> nodeAddresses = new ArrayList<>(List.of(ctx.nodeAddress()));
        if (captureTwin != null && l.transparent()) {
            nodeAddresses.add(captureTwin);
        }
        for (InetAddress a : nodeAddresses) {
            boolean twin = a == captureTwin;
            if (!l.inboundPerWorkload() && l.hbone() >= 0) {
                Future<?> b = bind(new InetSocketAddress(a, l.hbone()), hbone, true).map(nodeLevel::add);
                binds.add(twin ? OtherFamilyListeners.optional(b) : b);
            }
            if (l.transparent() && l.inboundPlaintext() >= 0) {
                Future<?> b = bind(new InetSocketAddress(a, l.inboundPlaintext()), new PlaintextInbound(ctx), true)
                        .map(nodeLevel::add);
                binds.add(twin ? OtherFamilyListeners.optional(b) : b);
            }
        }
        binds.add(sync(ctx.store().current()));
        return Future.join(binds).mapEmpty();
    }

    /** Follows the local workload set (local mode). */
    public Future<Void> sync(WorkloadIndex index) {
        var l = ctx.config().listeners();
        if (!l.inboundPerWorkload() || l.hbone() < 0 || closed) {
            return Future.succeededFuture();
        }
        Set<InetAddress> wanted = new HashSet<>();
        for (Workload w : index.workloadsOnNode(ctx.node())) {
            if (!WorkloadIndex.byAddress(w)) {
                continue; // the node's own address: no workload's to listen on
            }
            for (var raw : w.getAddressesList()) {
                try {
                    wanted.add(InetAddress.getByAddress(raw.toByteArray()));
                } catch (java.net.UnknownHostException e) {
                    // validated on the way in; unreachable
                }
            }
        }
        List<Future<?>> binds = new ArrayList<>();
        for (InetAddress ip : wanted) {
            if (!perWorkload.containsKey(ip)) {
                perWorkload.put(ip, PENDING);
                binds.add(bind(new InetSocketAddress(ip, l.hbone()), hbone, false).transform(ar -> {
                    if (ar.succeeded()) {
                        if (closed || !perWorkload.replace(ip, PENDING, ar.result())) {
                            ar.result().close();
                        }
                    } else {
                        perWorkload.remove(ip, PENDING);
                        log.atWarn().addKeyValue("address", ip.getHostAddress() + ":" + l.hbone())
                                .log("cannot listen for HBONE: {}", ar.cause().getMessage());
                    }
                    return Future.succeededFuture();
                }));
            }
        }
        for (var e : perWorkload.entrySet()) {
            if (!wanted.contains(e.getKey()) && e.getValue() != PENDING && perWorkload.remove(e.getKey(), e.getValue())) {
                e.getValue().close();
            }
        }
        return Future.join(binds).mapEmpty();
    }

    private static final Channel PENDING = new io.netty.channel.embedded.EmbeddedChannel();

    private Future<Channel> bind(InetSocketAddress addr, io.netty.channel.ChannelHandler init, boolean transparent) {
        ServerBootstrap b = ctx.net().server().childHandler(init);
        if (transparent && ctx.config().listeners().transparent() && ctx.net().epoll()) {
            b.option(EpollChannelOption.IP_TRANSPARENT, true);
        }
        Promise<Channel> p = Promise.promise();
        ChannelFuture f = b.bind(addr);
        f.addListener(x -> {
            if (x.isSuccess()) {
                log.atInfo().addKeyValue("address", String.valueOf(f.channel().localAddress())).log("listening");
                p.complete(f.channel());
            } else {
                p.fail(new IllegalStateException("bind " + addr + ": " + x.cause().getMessage(), x.cause()));
            }
        });
        return p.future();
    }

    /** Addresses HBONE listens on now. */
    public List<InetSocketAddress> hboneAddresses() {
        List<InetSocketAddress> out = new ArrayList<>();
        for (Channel c : perWorkload.values()) {
            if (c != PENDING) {
                out.add((InetSocketAddress) c.localAddress());
            }
        }
        if (!ctx.config().listeners().inboundPerWorkload()) {
            for (Channel c : nodeLevel) {
                out.add((InetSocketAddress) c.localAddress());
            }
        }
        return out;
    }

    /** Drain step 1: stop accepting, GOAWAY to every HBONE peer. */
    public void stopAccepting() {
        closed = true;
        perWorkload.values().forEach(c -> {
            if (c != PENDING) {
                c.close();
            }
        });
        nodeLevel.forEach(Channel::close);
        hbone.goAway();
    }

    /** A new CRL: closes inbound HBONE connections whose client certificate it lists. */
    public void closeRevoked(io.jmesh.ztunnel.tls.TrustSnapshot trust, boolean rootsRemoved,
            io.jmesh.ztunnel.trust.RevokedConnections revoked) {
        hbone.closeRevoked(trust, rootsRemoved, revoked);
    }

    public int openHboneConnections() {
        return hbone.openConnections();
    }
}
