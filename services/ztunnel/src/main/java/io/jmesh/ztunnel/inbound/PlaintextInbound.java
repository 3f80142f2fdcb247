package io.jmesh.ztunnel.inbound;

import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.authz.ConnectionFacts;
import io.jmesh.ztunnel.authz.Decision;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionInfo;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.telemetry.ResponseFlags;
import io.jmesh.ztunnel.tunnel.EarlyInput;
import io.jmesh.ztunnel.tunnel.Relay;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Inbound plaintext (15006) in transparent mode: TPROXY keeps the original destination (pod IP and port) as the
 * accepted socket's local address. The connection has no identity, so policy decides (a STRICT
 * PeerAuthentication arrives as a DENY of identity-less traffic); then ztunnel connects to the application.
 */
final class PlaintextInbound extends ChannelInitializer<Channel> {

    private final InboundContext ctx;

    PlaintextInbound(InboundContext ctx) {
        this.ctx = ctx;
    }

    @Override
    protected void initChannel(Channel ch) {
        long start = System.nanoTime(); // the telemetry's clock, as Istio's proxy_inbound_plaintext starts it
        ch.config().setAutoRead(false);
        EarlyInput early = EarlyInput.install(ch);
        InetSocketAddress target = (InetSocketAddress) ch.localAddress();
        InetSocketAddress peer = (InetSocketAddress) ch.remoteAddress();
        WorkloadIndex index = ctx.store().current();
        if (ctx.store().onDemand()) {
            // on-demand discovery: ask policy for the destination's and the client's workloads if not known
            List<io.vertx.core.Future<Void>> answers = new ArrayList<>(2);
            if (index.workloadByIp(target.getAddress()) == null) {
                answers.add(ctx.store().demandAddress(target.getAddress()));
            }
            if (index.workloadByIp(peer.getAddress()) == null) {
                answers.add(ctx.store().demandAddress(peer.getAddress()));
            }
            WorkloadStore.afterAnswer(io.vertx.core.Future.join(answers), ch,
                    () -> accept(ch, early, target, peer, ctx.store().current(), start));
            return;
        }
        accept(ch, early, target, peer, index, start);
    }

    private void accept(Channel ch, EarlyInput early, InetSocketAddress target, InetSocketAddress peer,
            WorkloadIndex index, long start) {
        String dst = target.getAddress().getHostAddress() + ":" + target.getPort();
        Workload w = index.workloadByIp(target.getAddress());
        if (w == null || !ctx.node().equals(w.getNode())) {
            ctx.telemetry().rejected(false, "not_local_workload", "plaintext connection to " + dst
                    + ", which is no workload on this node", peer, dst);
            ch.close();
            return;
        }
        if (ctx.ownPorts().contains(target.getPort())) {
            ctx.telemetry().rejected(false, "illegal_port", "port " + target.getPort() + " is ztunnel's own", peer, dst);
            ch.close();
            return;
        }
        ConnectionFacts facts = new ConnectionFacts(null, peer.getAddress(), target.getAddress(),
                target.getPort(), w.getNamespace(), w.getAuthorizationPoliciesList());
        ctx.openTunnels().track(ch, facts, w.getUid()); // before the check, as HBONE inbound (InboundStream)
        // as Istio's inbound passthrough: the first of the workload's services with a port on the one connected to
        Service service = InboundStream.serviceOnPort(index, w, target.getPort());
        Decision d = ctx.authorizer().check(facts);
        if (!d.allowed()) {
            ctx.telemetry().rejected(false, "denied", d.reason(), peer, dst);
            // as Istio's plaintext inbound: a connection opened and closed with response flag DENY
            ctx.telemetry().opened(new ConnectionInfo(false, index.workloadByIp(peer.getAddress()), w, null, null,
                    service, peer, target, "", false), start).close(0, 0, ResponseFlags.DENY, d.reason());
            ch.close();
            return;
        }
        var b = ctx.net().client(ch.eventLoop(), ctx.config().hbone().connectTimeout())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {}
                });
        ChannelFuture f;
        if (ctx.config().listeners().transparent() && ctx.net().epoll()) {
            // keep the client's address, as HBONE inbound does (IP_TRANSPARENT; replies return by the capture mark)
            b.option(io.netty.channel.epoll.EpollChannelOption.IP_TRANSPARENT, true);
            f = b.connect(target, new InetSocketAddress(peer.getAddress(), 0));
        } else {
            f = b.connect(target, new InetSocketAddress(ctx.nodeAddress(), 0));
        }
        // shutdown ends the connection being set up by closing both sides: the application connect then fails
        Channel connecting = f.channel();
        ConnectionTelemetry.SetUp setUp = ctx.telemetry().settingUp(() -> {
            ch.close();
            connecting.close();
        });
        f.addListener(x -> {
            if (!x.isSuccess()) {
                String why = "connect to " + dst + " failed: " + x.cause().getMessage();
                if (!setUp.endedAtShutdown()) { // else ztunnel's own doing: no refusal
                    ctx.telemetry().rejected(false, "connect_failed", why, peer, dst);
                }
                ctx.telemetry().opened(new ConnectionInfo(false, index.workloadByIp(peer.getAddress()), w, null,
                        null, service, peer, target, "", false), start, setUp).close(0, 0, ResponseFlags.CONNECT, why);
                ch.close();
                return;
            }
            if (!ch.isActive()) {
                f.channel().close(); // closed meanwhile: by its client, by a policy pushed during the connect, or
                if (setUp.endedAtShutdown()) { // by shutdown, which records it
                    ctx.telemetry().opened(new ConnectionInfo(false, index.workloadByIp(peer.getAddress()), w, null,
                            null, service, peer, target, "", false), start, setUp).close(0, 0, "-", null);
                } else {
                    setUp.abandon();
                }
                return;
            }
            ConnectionTelemetry.Tracked t = ctx.telemetry().opened(new ConnectionInfo(false,
                    index.workloadByIp(peer.getAddress()), w, null, null, service, peer, target, "", false), start,
                    setUp);
            early.handOver(ch, () -> {
                Relay relay = Relay.start(ch, f.channel(), t.bytesFromSource(), t.bytesToSource(),
                        OpenInbound.reportEnd(ch, t));
                t.relayedBy(relay::bytesAToB, relay::bytesBToA, relay::close);
                for (Object m : early.reads()) {
                    ch.pipeline().fireChannelRead(m);
                }
                if (!early.reads().isEmpty()) {
                    early.reads().clear();
                    ch.pipeline().fireChannelReadComplete();
                }
            });
        });
    }
}
