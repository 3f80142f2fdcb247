package io.jmesh.ztunnel.inbound;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.authz.ConnectionFacts;
import io.jmesh.ztunnel.authz.Decision;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.discovery.Workloads;
import io.jmesh.ztunnel.telemetry.ConnectionInfo;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tunnel.HboneHeaders;
import io.jmesh.ztunnel.tunnel.Relay;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * One inbound CONNECT stream: validates the request, authorizes it, connects to the local application and only
 * then answers 200 and starts relaying. Refusals follow Istio: 400 for a bad method or authority, or an authority
 * address other than the workload addressed (never an open proxy), unless that workload has an application tunnel or
 * is the authority's waypoint ({@link SandwichedWaypoint}); 401 when policy denies; 503 for an unknown service or
 * port, one of ztunnel's own ports, or a failed connect. Each refusal is one log line and one counted reason.
 */
final class InboundStream extends ChannelInboundHandlerAdapter {

    private final InboundContext ctx;
    private boolean started;
    /**
     * When the CONNECT came ({@link System#nanoTime()}): the connection's telemetry starts there, as Istio's inbound
     * starts its {@code ConnectionResult}'s clock before the application connect, so a failed connect lasts as long
     * as it took to fail.
     */
    private long startNanos;
    /** DATA that arrived before the application connection was up; bounded by the stream window. */
    private final List<Object> early = new ArrayList<>(2);
    /**
     * The client's RST_STREAM, when it came while the application connect was under way: replayed to the relay (an
     * error code fails the tunnel there and resets the application's socket, as a reset during the relay would).
     */
    private Http2ResetFrame reset;

    InboundStream(InboundContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext c, Object msg) {
        if (msg instanceof Http2HeadersFrame h && !started) {
            started = true;
            startNanos = System.nanoTime();
            c.channel().config().setAutoRead(false);
            if (h.isEndStream()) {
                // the client sends nothing: the relay half-closes the application once it runs
                early.add(new DefaultHttp2DataFrame(true));
            }
            handle((Http2StreamChannel) c.channel(), h.headers());
            return;
        }
        if (msg instanceof Http2DataFrame || !started) {
            early.add(msg);
            return;
        }
        ReferenceCountUtil.release(msg);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext c, Object evt) {
        if (evt instanceof Http2ResetFrame r && started) { // Netty hands a stream its RST_STREAM as an event
            reset = r;
        }
        c.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext c) {
        early.forEach(ReferenceCountUtil::release);
        early.clear();
        c.fireChannelInactive();
    }

    private void handle(Http2StreamChannel stream, Http2Headers h) {
        handle(stream, h, false);
    }

    /** @param asked on-demand discovery was already asked for what the first look missed */
    private void handle(Http2StreamChannel stream, Http2Headers h, boolean asked) {
        Channel parent = stream.parent();
        InetSocketAddress peer = (InetSocketAddress) parent.remoteAddress();
        InetSocketAddress local = (InetSocketAddress) parent.localAddress();
        String authority = h.authority() == null ? "" : h.authority().toString();
        if (!"CONNECT".contentEquals(h.method() == null ? "" : h.method())) {
            refuse(stream, 400, "bad_method", "method " + h.method() + " (expected: CONNECT)", peer, authority);
            return;
        }
        Authority.Target parsed;
        try {
            parsed = Authority.parseTarget(h.authority());
        } catch (IllegalArgumentException e) {
            refuse(stream, 400, "bad_authority", e.getMessage(), peer, authority);
            return;
        }
        WorkloadIndex index = ctx.store().current();
        if (!asked && ctx.store().onDemand()) {
            List<String> missing = missing(index, parsed, local, peer, h);
            if (!missing.isEmpty()) {
                // on-demand discovery: ask policy for what this ztunnel does not know yet, then decide as usual
                List<io.vertx.core.Future<Void>> answers = new ArrayList<>(missing.size());
                for (String alias : missing) {
                    answers.add(ctx.store().demand(alias));
                }
                WorkloadStore.afterAnswer(io.vertx.core.Future.join(answers), stream, () -> handle(stream, h, true));
                return;
            }
        }
        Workload addressed = index.workloadByIp(local.getAddress());
        InetSocketAddress requested = parsed.ip() != null ? parsed.address()
                : byHostname(stream, index, addressed, local, parsed, peer, authority);
        if (requested == null) {
            return; // refused
        }
        ApplicationTunnel tunnel = applicationTunnel(addressed);
        boolean proxyHeader = tunnel != null && tunnel.getProtocol() == ApplicationTunnel.Protocol.PROXY;
        Workload named = tunnel != null ? null : index.workloadByIp(requested.getAddress());
        // the original destination of a client of this (captured) waypoint: the waypoint gets the tunnel, on the
        // authority's port
        boolean viaWaypoint = tunnel == null && addressed != null
                && (named == null || !named.getUid().equals(addressed.getUid()))
                && SandwichedWaypoint.isWaypointFor(index, requested.getAddress(), addressed);
        InetSocketAddress target = viaWaypoint ? new InetSocketAddress(local.getAddress(), requested.getPort())
                : requested;
        Workload dst;
        if (tunnel != null || viaWaypoint) {
            // with a tunnel (a sandwiched waypoint taking tunnel metadata) the target may be any address, as it is
            // handed to the application in the PROXY header; either way the destination is the workload addressed
            dst = addressed;
        } else {
            dst = named;
            if (dst == null) {
                // Istio's IPMismatch: an address that is no workload is not the one the connection was addressed to
                refuse(stream, 400, "authority_mismatch", "authority names " + requested.getAddress().getHostAddress()
                        + ", which is neither a workload nor a destination whose waypoint is "
                        + (addressed == null ? local.getAddress().getHostAddress() : addressed.getName()), peer,
                        authority);
                return;
            }
        }
        if (!ctx.node().equals(dst.getNode())) {
            refuse(stream, 400, "not_local_workload", "workload " + dst.getNamespace() + "/" + dst.getName()
                    + " runs on node '" + dst.getNode() + "', not here: ztunnel is not an open proxy", peer, authority);
            return;
        }
        if (tunnel == null && addressed != null && !addressed.getUid().equals(dst.getUid())) {
            refuse(stream, 400, "authority_mismatch", "authority names " + dst.getName()
                    + " but the connection was addressed to " + addressed.getName(), peer, authority);
            return;
        }
        if (tunnel == null && !viaWaypoint && addressed != null && !requested.getAddress().equals(local.getAddress())) {
            // Istio's validate_destination compares addresses: another address of the same workload (its other
            // family, say) is not the one the client dialled. A connection to ztunnel's own address (no workload's:
            // node-level ztunnel without capture) is not addressed to any workload; the authority names it.
            refuse(stream, 400, "authority_mismatch", "authority names "
                    + NetUtil.toAddressString(requested.getAddress())
                    + " but the connection was addressed to "
                    + NetUtil.toAddressString(local.getAddress()) + ", another address of "
                    + dst.getName(), peer, authority);
            return;
        }
        InetSocketAddress delivery = tunnel == null ? target : tunnelDelivery(tunnel, proxyHeader, local, target);
        // the target's port, as Istio checks it before a tunnel's port replaces it (a target on 15008 asks for a
        // tunnel in a tunnel, whatever the application behind would make of it); and where the tunnel is delivered
        // when that is ztunnel itself (loopback in a pod, or the node address)
        int ownPort = ctx.ownPorts().contains(target.getPort()) ? target.getPort()
                : ctx.ownPorts().contains(delivery.getPort()) && (delivery.getAddress().isLoopbackAddress()
                        || delivery.getAddress().equals(ctx.nodeAddress())) ? delivery.getPort() : 0;
        if (ownPort != 0) {
            refuse(stream, 503, "illegal_port", "port " + ownPort + " is one of ztunnel's own ports", peer, authority);
            return;
        }
        SpiffeId src = parent.attr(HboneInbound.PEER).get();
        InetAddress client = clientAddress(index, peer, src, h);
        InetSocketAddress judged = authorizedDestination(tunnel, local, target);
        ConnectionFacts facts = new ConnectionFacts(src, client, judged.getAddress(), judged.getPort(),
                dst.getNamespace(), dst.getAuthorizationPoliciesList());
        // guessed on the port policy judges (a tunnel's), as Istio's guess_inbound_service reads the same destination
        Service service = serviceFor(index, dst, named(index, dst, parsed), h, judged.getPort());
        // registered before the check (as Istio's): a policy pushed while the application connect is under way
        // judges this tunnel too (it leaves the registry when the stream closes, refused or not)
        ctx.openTunnels().track(stream, facts, dst.getUid());
        Decision d = ctx.authorizer().check(facts);
        if (!d.allowed()) {
            // Istio reports a policy denial as a connection with response_flags DENY, beside the 401
            ctx.telemetry().opened(new ConnectionInfo(false, sourceWorkload(index, client, src, h), dst, src,
                    Workloads.identity(dst, ctx.trustDomain()), service, peer, local, authority, true), startNanos)
                    .close(0, 0, "DENY", d.reason());
            // the peer's identity is what policy judged: the access log names it
            refuse(stream, 401, "denied", (src == null ? "no peer identity" : src.uri()) + ": " + d.reason()
                    + (d.policy().isEmpty() ? "" : " (" + d.policy() + ")"), peer, authority);
            return;
        }
        Bootstrap b = ctx.net().client(stream.eventLoop(), ctx.config().hbone().connectTimeout())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {}
                });
        ChannelFuture connect;
        if (proxyHeader) {
            // the client's address travels in the PROXY header; over loopback the source must be loopback too
            connect = delivery.getAddress().isLoopbackAddress()
                    ? b.connect(delivery, new InetSocketAddress(delivery.getAddress(), 0))
                    : b.connect(delivery, new InetSocketAddress(ctx.nodeAddress(), 0));
        } else if (ctx.config().listeners().transparent() && ctx.net().epoll()) {
            // keep the client's address: bind to it with IP_TRANSPARENT (needs CAP_NET_ADMIN)
            b.option(EpollChannelOption.IP_TRANSPARENT, true);
            connect = b.connect(delivery, new InetSocketAddress(client, 0));
        } else {
            connect = b.connect(delivery, new InetSocketAddress(ctx.nodeAddress(), 0));
        }
        // shutdown ends the tunnel being set up by closing the stream and the application connect, which then fails
        Channel connecting = connect.channel();
        ConnectionTelemetry.SetUp setUp = ctx.telemetry().settingUp(() -> {
            stream.close();
            connecting.close();
        });
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                String why = "connect to " + authority + " failed: " + HboneInbound.rootMessage(f.cause());
                // Istio's metrics count it, response_flags CONNECT (istio_tcp_connections_failed_total among them)
                ctx.telemetry().opened(new ConnectionInfo(false, sourceWorkload(index, client, src, h), dst, src,
                        Workloads.identity(dst, ctx.trustDomain()), service, peer, local, authority, true),
                        startNanos, setUp).close(0, 0, "CONNECT", why);
                if (setUp.endedAtShutdown()) { // ztunnel's own doing, no refusal; the stream is closed
                    stream.close();
                    early.forEach(ReferenceCountUtil::release);
                    early.clear();
                } else {
                    refuse(stream, 503, "connect_failed", why, peer, authority);
                }
                return;
            }
            Channel app = connect.channel();
            boolean failedByClient = reset != null && Relay.isErrorReset(reset.errorCode());
            if (!stream.isActive() && !failedByClient) {
                app.close(); // the client gave up on its CONNECT before the answer, or shutdown ended it
                if (setUp.endedAtShutdown()) {
                    ctx.telemetry().opened(new ConnectionInfo(false, sourceWorkload(index, client, src, h), dst, src,
                            Workloads.identity(dst, ctx.trustDomain()), service, peer, local, authority, true),
                            startNanos, setUp).close(0, 0, "-", null);
                } else {
                    setUp.abandon();
                }
                return;
            }
            SpiffeId dstId = Workloads.identity(dst, ctx.trustDomain());
            Workload srcWorkload = sourceWorkload(index, client, src, h);
            ConnectionTelemetry.Tracked tracked = ctx.telemetry().opened(new ConnectionInfo(false, srcWorkload, dst,
                    src, dstId, service, peer, local, authority, true), startNanos, setUp);
            // Istio's response baggage describes the destination (the client labels its metrics with it)
            Http2Headers ok = new DefaultHttp2Headers().status("200");
            String baggage = Workloads.baggage(dst);
            if (!baggage.isEmpty()) {
                ok.add("baggage", baggage);
            }
            if (reset == null) {
                // a reset stream is not answered: the relay still starts, to end the tunnel as the reset says
                stream.writeAndFlush(new DefaultHttp2HeadersFrame(ok));
            }
            if (proxyHeader) {
                app.write(ProxyProtocolHeader.v2(app.alloc(), new InetSocketAddress(client, peer.getPort()),
                        announced(index, addressed, parsed, target), src == null ? null : src.uri()));
            }
            if (stream.pipeline().context(this) != null) { // a closed stream has dropped its handlers
                stream.pipeline().remove(this);
            }
            Relay relay = Relay.start(stream, app, tracked.bytesFromSource(), tracked.bytesToSource(),
                    OpenInbound.reportEnd(stream, tracked));
            tracked.relayedBy(relay::bytesAToB, relay::bytesBToA, relay::close);
            for (Object m : early) {
                stream.pipeline().fireChannelRead(m);
            }
            if (!early.isEmpty()) {
                early.clear();
                stream.pipeline().fireChannelReadComplete();
            }
            if (reset != null) {
                stream.pipeline().fireChannelRead(reset); // after what the client sent before it
            }
        });
    }

    /**
     * On-demand discovery: the aliases of what deciding on this CONNECT looks up and {@code index} lacks. The workload
     * the connection was addressed to, the authority's workload (or, for a hostname, its service when the name says
     * its namespace), and the client's workload (telemetry), except for a tunnel from another network, whose source
     * is in its baggage.
     */
    private List<String> missing(WorkloadIndex index, Authority.Target parsed, InetSocketAddress local,
            InetSocketAddress peer, Http2Headers h) {
        List<String> out = new ArrayList<>(3);
        String network = index.network();
        if (index.workloadByIp(local.getAddress()) == null) {
            out.add(io.jmesh.core.xds.XdsTypes.ipAlias(network, local.getAddress()));
        }
        if (parsed.ip() != null) {
            InetAddress ip = parsed.address().getAddress();
            if (!ip.equals(local.getAddress()) && index.workloadByIp(ip) == null) {
                out.add(io.jmesh.core.xds.XdsTypes.ipAlias(network, ip));
            }
        } else if (index.serviceByHostname(parsed.hostname()) == null) {
            String ns = Workloads.serviceNamespace(parsed.hostname());
            if (ns != null) {
                out.add(io.jmesh.core.xds.XdsTypes.hostnameAlias(ns, parsed.hostname()));
            }
        }
        CharSequence fromNetwork = h.get(HboneHeaders.FORWARDED_NETWORK);
        boolean viaGateway = fromNetwork != null && !ctx.config().node().network().contentEquals(fromNetwork);
        if (!viaGateway && !peer.getAddress().equals(local.getAddress()) && index.workloadByIp(peer.getAddress()) == null) {
            out.add(io.jmesh.core.xds.XdsTypes.ipAlias(network, peer.getAddress()));
        }
        return out;
    }

    /**
     * A hostname authority names a service; the target is the workload the connection was addressed to, which must
     * be one of its endpoints, on the port the service port maps to (as Istio's inbound does). Null after a refusal.
     */
    private InetSocketAddress byHostname(Http2StreamChannel stream, WorkloadIndex index, Workload addressed,
            InetSocketAddress local, Authority.Target t, InetSocketAddress peer, String authority) {
        Service svc = HostnameAuthority.service(index, addressed, t.hostname());
        if (svc == null) {
            refuse(stream, 503, "unknown_service", "no service has hostname " + t.hostname(), peer, authority);
            return null;
        }
        if (addressed == null || !addressed.getServicesMap().containsKey(WorkloadIndex.name(svc))) {
            refuse(stream, 400, "authority_mismatch", "the connection was addressed to "
                    + (addressed == null ? local.getAddress().getHostAddress() : addressed.getName())
                    + ", which is no endpoint of " + t.hostname(), peer, authority);
            return null;
        }
        int port = targetPort(addressed.getServicesMap().get(WorkloadIndex.name(svc)).getPortsList(), t.port());
        if (port == 0) {
            // the service's target port; 0 is a named port this endpoint does not resolve: not served here (as
            // Istio's NoPortForServices, and as outbound never picks such an endpoint)
            port = serviceTargetPort(svc.getPortsList(), t.port());
        }
        if (port == 0) {
            refuse(stream, 503, "unknown_port", "service " + t.hostname() + " has no port " + t.port()
                    + " that " + addressed.getName() + " serves (a named target port it maps no number for)", peer,
                    authority);
            return null;
        }
        return new InetSocketAddress(local.getAddress(), port);
    }

    /**
     * The destination a PROXY header names: the authority's address, or for a hostname a VIP of the service with the
     * authority's port (the header has no room for names): as Istio picks it, one on this network, IPv4 before IPv6,
     * else one of another network.
     */
    private static InetSocketAddress announced(WorkloadIndex index, Workload addressed, Authority.Target t,
            InetSocketAddress target) {
        if (t.ip() != null) {
            return target;
        }
        Service svc = HostnameAuthority.service(index, addressed, t.hostname());
        InetAddress best = null;
        int bestRank = -1;
        for (var na : svc == null ? List.<io.jmesh.proto.istio.workload.NetworkAddress>of() : svc.getAddressesList()) {
            InetAddress vip;
            try {
                vip = InetAddress.getByAddress(na.getAddress().toByteArray());
            } catch (java.net.UnknownHostException e) {
                continue; // validated on the way in
            }
            int rank = !na.getNetwork().equals(index.network()) ? 0 : vip instanceof java.net.Inet4Address ? 2 : 1;
            if (rank >= bestRank) { // the last of equals, as Rust's max_by_key that Istio uses
                best = vip;
                bestRank = rank;
            }
        }
        return best == null ? target : new InetSocketAddress(best, t.port());
    }

    /**
     * An endpoint's own target port for {@code servicePort} (the service port itself when it maps it to 0), or 0
     * when it lists no such port.
     */
    private static int targetPort(List<io.jmesh.proto.istio.workload.Port> ports, int servicePort) {
        for (var p : ports) {
            if (p.getServicePort() == servicePort) {
                return p.getTargetPort() != 0 ? p.getTargetPort() : servicePort;
            }
        }
        return 0;
    }

    /** A service's target port for {@code servicePort}: 0 when it has no such port, or a named one (0). */
    private static int serviceTargetPort(List<io.jmesh.proto.istio.workload.Port> ports, int servicePort) {
        for (var p : ports) {
            if (p.getServicePort() == servicePort) {
                return p.getTargetPort();
            }
        }
        return 0;
    }

    /**
     * The workload's application tunnel, of either protocol, or null. As Istio's inbound, any tunnel lets the target
     * be any address and is delivered to the address dialled; NONE only leaves out the PROXY header.
     */
    private static ApplicationTunnel applicationTunnel(Workload w) {
        return w != null && w.hasApplicationTunnel() ? w.getApplicationTunnel() : null;
    }

    /**
     * The destination policy judges: the target, or with an application tunnel where Istio's inbound delivers it
     * (its {@code resolve_inbound_target} replaces the connection's destination with that before RBAC): the address
     * dialled, on the tunnel's port when it names one. Not the {@code :authority}'s address, which may be anything
     * the application behind the tunnel decides on, nor the loopback address an in-pod PROXY tunnel goes to, which
     * Istio picks after the check.
     */
    private static InetSocketAddress authorizedDestination(ApplicationTunnel tunnel, InetSocketAddress local,
            InetSocketAddress target) {
        if (tunnel == null) {
            return target;
        }
        return new InetSocketAddress(local.getAddress(), tunnel.getPort() != 0 ? tunnel.getPort() : target.getPort());
    }

    /**
     * Where an application tunnel is delivered: its port (else the target's), on the address dialled; a PROXY one on
     * the pod's loopback in in-pod mode (so only ztunnel can reach it, as Istio's {@code LOCALHOST_APP_TUNNEL}, which
     * a NONE tunnel does not support: it carries no client address, so the application would see only loopback).
     */
    private InetSocketAddress tunnelDelivery(ApplicationTunnel tunnel, boolean proxyHeader, InetSocketAddress local,
            InetSocketAddress target) {
        int port = tunnel.getPort() != 0 ? tunnel.getPort() : target.getPort();
        if (proxyHeader && ctx.appTunnelOnLoopback()) {
            return new InetSocketAddress(local.getAddress() instanceof java.net.Inet4Address
                    ? NetUtil.LOCALHOST4 : NetUtil.LOCALHOST6, port);
        }
        return new InetSocketAddress(local.getAddress(), port);
    }

    /**
     * The client's address: the TCP peer, except for a tunnel from this ztunnel itself in transparent mode (a
     * client and a destination on the same node, tunnelled through our own 15008 from a node address, which the
     * pool recognises by the connection's exact local address). There the
     * {@code forwarded for=} address is believed when it is a workload on this node whose identity is the verified
     * peer identity, so the application sees its client's address, as across nodes.
     */
    private InetAddress clientAddress(WorkloadIndex index, InetSocketAddress peer, SpiffeId src, Http2Headers h) {
        if (!ctx.config().listeners().transparent() || src == null || !ctx.ownTunnel().test(peer)) {
            return peer.getAddress();
        }
        InetAddress forwarded = forwardedFor(h);
        Workload w = forwarded == null ? null : index.workloadByIp(forwarded);
        return w != null && ctx.node().equals(w.getNode()) && src.equals(Workloads.identity(w, ctx.trustDomain()))
                ? forwarded : peer.getAddress();
    }

    /**
     * The IP of the first {@code forwarded: for=} parameter, or null; never resolves a name. RFC 7239 forms, quotes
     * dropped: {@code ip} or {@code ip:port} (IPv4), {@code [v6]} or {@code [v6]:port} (the port is not read: it may
     * be RFC 7239's obfuscated {@code _name}). An unbracketed value with more than one colon is read whole as an
     * IPv6 literal without port, or not at all: its last colon is no port separator ({@code ::1} is not {@code ::}).
     */
    static InetAddress forwardedFor(Http2Headers h) {
        CharSequence fwd = h.get("forwarded");
        if (fwd == null) {
            return null;
        }
        for (String part : fwd.toString().split(";")) {
            String p = part.trim();
            if (p.regionMatches(true, 0, "for=", 0, 4)) {
                String v = p.substring(4).replace("\"", "");
                String host;
                if (v.startsWith("[")) { // IPv6 only, then nothing or ":port"
                    int end = v.indexOf(']');
                    host = end < 0 || (end + 1 < v.length() && v.charAt(end + 1) != ':') ? ""
                            : v.substring(1, end);
                    if (host.indexOf(':') < 0) {
                        return null;
                    }
                } else if (v.indexOf(':') != v.lastIndexOf(':')) {
                    host = v; // unbracketed IPv6: all of it or nothing
                } else {
                    int colon = v.indexOf(':');
                    host = colon < 0 ? v : v.substring(0, colon);
                }
                return io.jmesh.core.net.IpLiteral.parse(host);
            }
        }
        return null;
    }

    /**
     * The source workload by client address, believed only when its identity is the verified one. A tunnel from
     * another network (double HBONE: {@code x-forwarded-network} names a network other than ours) comes from the
     * east-west gateway's address, so its source is what its {@code baggage} says, with the verified identity; so is
     * that of a client no workload of that identity has the address of (a host-network client, say, leaving from its
     * node's address), as Istio labels a source it cannot look up from its derived (baggage) source.
     */
    private Workload sourceWorkload(WorkloadIndex index, InetAddress client, SpiffeId src, Http2Headers h) {
        CharSequence network = h.get(HboneHeaders.FORWARDED_NETWORK);
        if (network != null && !ctx.config().node().network().contentEquals(network)) {
            return Workloads.fromBaggage(baggage(h), src);
        }
        Workload byIp = index.workloadByIp(client);
        if (byIp != null && src != null && src.equals(Workloads.identity(byIp, ctx.trustDomain()))) {
            return byIp;
        }
        CharSequence baggage = baggage(h);
        return baggage == null || baggage.length() == 0 ? null : Workloads.fromBaggage(baggage, src);
    }

    /**
     * Every {@code baggage} header, in order, as one list (null when none): HTTP lets a list header come several
     * times, and Istio's {@code parse_baggage_header} reads them all, a later key overriding an earlier one.
     */
    static CharSequence baggage(Http2Headers h) {
        List<CharSequence> all = h.getAll("baggage");
        return all.isEmpty() ? null : all.size() == 1 ? all.get(0) : String.join(",", all);
    }

    /** The service a hostname authority names (the one its connection was let in for), null for an address. */
    private static Service named(WorkloadIndex index, Workload dst, Authority.Target parsed) {
        return parsed.ip() != null ? null : HostnameAuthority.service(index, dst, parsed.hostname());
    }

    /**
     * The destination service (Istio's {@code guess_inbound_service}). For a hostname authority, Istio looks at
     * the service it names only: that one when {@code forwarded host=} names it or it reaches {@code dst} on
     * {@code port}, else none (never another of the workload's services on the same port). For an address: the
     * one named by {@code forwarded host=} if the workload belongs to it, else {@link #serviceOnPort}.
     */
    private static Service serviceFor(WorkloadIndex index, Workload dst, Service named, Http2Headers h, int port) {
        if (named != null) {
            PortList own = dst.getServicesMap().getOrDefault(WorkloadIndex.name(named), PortList.getDefaultInstance());
            return named.getHostname().equals(forwardedHost(h)) || reaches(named, own, port) ? named : null;
        }
        String host = forwardedHost(h);
        Service s = host == null ? null : HostnameAuthority.service(index, dst, host);
        if (s != null && dst.getServicesMap().containsKey(WorkloadIndex.name(s))) {
            return s;
        }
        return serviceOnPort(index, dst, port);
    }

    /**
     * The first of {@code dst}'s services that reaches it on {@code port}, or null: the destination service of a
     * connection that names none (Istio's {@code guess_inbound_service} without a host, as its plaintext inbound
     * uses it). A service matches when one of its target ports is {@code port}, or when this endpoint serves one of
     * its service ports on {@code port} (a named target port); a service port that only equals {@code port} does
     * not.
     */
    static Service serviceOnPort(WorkloadIndex index, Workload dst, int port) {
        for (var e : dst.getServicesMap().entrySet()) {
            Service s = index.serviceByName(e.getKey());
            if (s == null) {
                continue;
            }
            if (reaches(s, e.getValue(), port)) {
                return s;
            }
        }
        return null;
    }

    /**
     * Whether service {@code s} reaches an endpoint listing {@code own} as its ports on {@code port}: one of its
     * target ports is {@code port}, or the endpoint serves one of its service ports there (a named target port).
     */
    private static boolean reaches(Service s, PortList own, int port) {
        for (var p : s.getPortsList()) {
            if (p.getTargetPort() == port || endpointPort(own, p.getServicePort()) == port) {
                return true;
            }
        }
        return false;
    }

    /**
     * The first {@code forwarded host=} value, unquoted and in lower case (Istio's {@code parse_forwarded_host});
     * null without one.
     */
    private static String forwardedHost(Http2Headers h) {
        CharSequence fwd = h.get("forwarded");
        if (fwd == null) {
            return null;
        }
        for (String part : fwd.toString().split(";")) {
            String p = part.trim();
            if (p.regionMatches(true, 0, "host=", 0, 5)) {
                return p.substring(5).replace("\"", "").toLowerCase(java.util.Locale.ROOT);
            }
        }
        return null;
    }

    /** The port this endpoint serves {@code servicePort} on, from its own port list; 0 when it names none. */
    private static int endpointPort(PortList own, int servicePort) {
        for (var p : own.getPortsList()) {
            if (p.getServicePort() == servicePort) {
                return p.getTargetPort();
            }
        }
        return 0;
    }

    private void refuse(Http2StreamChannel stream, int status, String reason, String detail, InetSocketAddress peer,
            String authority) {
        ctx.telemetry().rejected(false, reason, detail, peer, authority);
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(String.valueOf(status)), true))
                .addListener(f -> stream.close());
        early.forEach(ReferenceCountUtil::release);
        early.clear();
    }
}
