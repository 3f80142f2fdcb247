package io.jmesh.ztunnel.inpod;

import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.zds.WorkloadInfo;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.dns.DnsMetrics;
import io.jmesh.ztunnel.dns.DnsProxy;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.inbound.Inbound;
import io.jmesh.ztunnel.inbound.InboundListeners;
import io.jmesh.ztunnel.outbound.HostnameResolver;
import io.jmesh.ztunnel.outbound.OutboundListeners;
import io.jmesh.ztunnel.outbound.OutboundProxy;
import io.jmesh.ztunnel.pool.HbonePool;
import io.jmesh.ztunnel.pool.PoolMetrics;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.jmesh.ztunnel.trust.RevokedConnections;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.channel.Channel;
import io.netty.util.NetUtil;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One pod's proxy in in-pod mode: listeners on 15001 (outbound, redirected by the agent's NAT rule), 15006
 * (plaintext inbound, TPROXY), 15008 (HBONE) and the DNS proxy on loopback 15053 (IPv4, and IPv6 where the pod has it)
 * inside the pod's network namespace, and an HBONE pool whose
 * connections leave from there too, all marked so the pod's rules let them pass. Everything else (workloads,
 * certificates, policy, telemetry) is the node's. Every socket it opens or accepts is in one group, closed at once
 * when the pod leaves: a socket keeps its namespace alive. The namespace's fd belongs to {@link PodProxies}.
 */
final class PodProxy {

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PodProxy.class);
    /**
     * How long a connection of the pod waits for discovery to name the pod's workload: the agent adds a pod as its
     * sandbox starts, often before istiod's push names it (Istio's ztunnel waits 5 s, {@code get_workload}).
     */
    static final Duration SOURCE_WAIT = Duration.ofSeconds(5);
    /** At most this many of a pod's connections and queries wait at once; more are refused at once (a UDP flood). */
    static final int MAX_AWAITING_WORKLOAD = 1_000;

    /** What every pod's proxy shares with the node. */
    record Node(Vertx vertx, ZtunnelConfig config, WorkloadStore store, IdentityManager identities,
            ConnectionTelemetry telemetry, InboundListeners inbound, PoolMetrics poolMetrics, DnsProxy.Settings dns,
            DnsMetrics dnsMetrics, HostnameResolver hostnames) {}

    private final String uid;
    private final WorkloadInfo info;
    private final PodNetns netns;
    private final ChannelGroup members;
    private final HbonePool pool;
    private final InboundListeners inbound;
    private final OutboundListeners outbound;
    private final DnsProxy dns;
    /** The same on [::1], for the pod's IPv6 DNS; null when off or when the pod has no IPv6 loopback. */
    private volatile DnsProxy dns6;
    private final Node node;
    /** The pod's connections waiting for its workload ({@link #SOURCE_WAIT}), each completed once. */
    private final Queue<Promise<Workload>> awaitingWorkload = new ConcurrentLinkedQueue<>();
    private final AtomicInteger awaitingCount = new AtomicInteger();

    private PodProxy(Node node, String uid, WorkloadInfo info, PodNetns netns) {
        this.uid = uid;
        this.info = info;
        this.node = node;
        this.netns = netns;
        // stayClosed: a socket accepted while the pod's deletion closes the group is closed as it joins, not left
        // behind in a namespace that is going away
        this.members = new DefaultChannelGroup("pod " + uid, GlobalEventExecutor.INSTANCE, true);
        ZtunnelConfig config = podConfig(node.config());
        NetTransport net = NetTransport.of(node.vertx()).withTcp(config.tcp()).withSocketMark(config.inpod().socketMark())
                .in(netns, members, config.inpod().portReuse());
        this.pool = new HbonePool(node.vertx(), net, config, node.poolMetrics());
        // hostnames are resolved from ztunnel's own namespace, as Istio's ztunnel does, not from the pod's
        OutboundProxy proxy = new OutboundProxy(config, node.store(), node.identities(), pool, node.telemetry(), net,
                node.hostnames());
        InetAddress any = anyAddress();
        this.inbound = Inbound.forPod(node.inbound(), config, net, any);
        this.outbound = new OutboundListeners(config, proxy, node.telemetry(), net, any, new PodCapture(config));
        // the pod's own resolver on its loopback, where the agent's rules send its port-53 traffic
        this.dns = node.dns() == null ? null : new DnsProxy(net, node.store(), podDns(node.dns(), NetUtil.LOCALHOST4),
                node.dnsMetrics(), new PodDnsClients());
        this.dns6 = node.dns() == null ? null : new DnsProxy(net, node.store(), podDns(node.dns(), NetUtil.LOCALHOST6),
                node.dnsMetrics(), new PodDnsClients());
    }

    private static DnsProxy.Settings podDns(DnsProxy.Settings s, InetAddress loopback) {
        return new DnsProxy.Settings(s.nodeName(), loopback, s.port(), s.clusterDomain(), s.tcpIdleTimeout(),
                s.upstreams(), s.upstreamTimeout(), s.upstreamAttempts(), s.upstreamConcurrency(),
                s.maxPendingUpstream(),
                s.maxTcpConnections(), s.maxTcpConnectionsPerClient());
    }

    /** [::1]:15053 where the pod has IPv6 (its REDIRECTed IPv6 DNS lands there); without it, IPv4 only. */
    private Future<Void> startDns6() {
        DnsProxy d = dns6;
        if (d == null) {
            return Future.succeededFuture();
        }
        return d.start().recover(e -> {
            dns6 = null;
            d.close();
            log.atDebug().addKeyValue("uid", uid).log("no IPv6 DNS proxy in the pod: {}", e.getMessage());
            return Future.succeededFuture();
        });
    }

    /**
     * Opens the pod's listeners; on failure everything opened is closed again and the first failure (in the order
     * inbound, outbound, DNS) is reported. Every listener is waited for first: closing the pod's sockets while one is
     * still being registered would fail on it (a channel without event loop), hiding the real cause and leaking it.
     */
    static Future<PodProxy> start(Node node, String uid, WorkloadInfo info, PodNetns netns) {
        PodProxy p;
        try {
            p = new PodProxy(node, uid, info, netns);
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        Future<Void> dns = p.dns == null ? Future.succeededFuture() : p.dns.start();
        List<Future<?>> starts = List.of(p.inbound.start(), p.outbound.start(), dns, p.startDns6());
        return Future.join(starts).transform(ar -> {
            if (ar.succeeded()) {
                return Future.succeededFuture(p);
            }
            p.closeSockets();
            for (Future<?> f : starts) {
                if (f.failed()) {
                    return Future.failedFuture(f.cause());
                }
            }
            return Future.failedFuture(ar.cause());
        });
    }

    /**
     * Each pod listens on the Istio ports of the node's configuration, marks its sockets with the in-pod mark, and
     * behaves transparently: the applications see their peers' own addresses.
     */
    static ZtunnelConfig podConfig(ZtunnelConfig node) {
        var l = node.listeners();
        return node.withInPod(node.inpod().off()).withListeners(new ZtunnelConfig.Listeners(l.hbone(), l.inboundPlaintext(), l.outboundCapture(),
                -1, -1, -1, -1, false, true));
    }

    private static InetAddress anyAddress() {
        try {
            // Netty's epoll sockets are dual-stack where IPv6 is on: [::] takes IPv4 too, as Istio's "*:15001"
            return InetAddress.getByName(io.netty.channel.unix.Socket.isIPv6Preferred() ? "::" : "0.0.0.0");
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    String uid() {
        return uid;
    }

    WorkloadInfo info() {
        return info;
    }

    /** {@code net:[inode]} of the pod's namespace: a new one means the pod's sandbox was re-created. */
    String netnsId() {
        return netns.id();
    }

    PodNetns netns() {
        return netns;
    }

    /** The pod left: stop listening and close every tunnel and socket now (Istio drains a deleted pod at once). */
    void close() {
        inbound.stopAccepting();
        outbound.stopAccepting();
        closeSockets();
        for (Promise<Workload> p; (p = awaitingWorkload.poll()) != null; ) {
            p.tryComplete(); // the connection is closed with the pod's other sockets
        }
    }

    /** The namespace's fd stays open (its owner releases it); sockets hold their namespace by themselves. */
    private void closeSockets() {
        if (dns != null) {
            dns.close();
        }
        DnsProxy d6 = dns6;
        if (d6 != null) {
            d6.close();
        }
        pool.close();
        members.close();
    }

    /** ztunnel shuts down: stop accepting, GOAWAY to HBONE peers, retire pooled connections; tunnels may finish. */
    void drain() {
        inbound.stopAccepting();
        outbound.stopAccepting();
        pool.drain();
    }

    int openConnections() {
        return inbound.openHboneConnections() + pool.openConnections();
    }

    /** The pod's DNS queries are the pod's, and wait for its workload as its connections do. */
    private final class PodDnsClients implements DnsProxy.Clients {
        @Override
        public Workload of(InetAddress client) {
            return workload(client);
        }

        @Override
        public Future<Workload> later(InetAddress client) {
            return awaitWorkload(GlobalEventExecutor.INSTANCE, client);
        }
    }

    /** Connections and DNS queries of this pod held until discovery names its workload. */
    int awaitingWorkload() {
        return awaitingCount.get();
    }

    void onWorkloadsChanged(WorkloadIndex next) {
        pool.onWorkloadsChanged(next);
        if (!awaitingWorkload.isEmpty()) {
            Workload w = workload(next, null);
            if (w != null) {
                awaitingWorkload.forEach(p -> p.tryComplete(w));
            }
        }
    }

    /**
     * This pod's workload once discovery names it, or null after {@link #SOURCE_WAIT} (or when the pod goes), for a
     * connection or query from {@code client}; the timer runs on {@code timers}.
     */
    private Future<Workload> awaitWorkload(EventExecutor timers, InetAddress client) {
        if (awaitingCount.incrementAndGet() > MAX_AWAITING_WORKLOAD) {
            awaitingCount.decrementAndGet();
            return Future.succeededFuture();
        }
        Promise<Workload> named = Promise.promise();
        awaitingWorkload.add(named);
        var timer = timers.schedule(() -> named.tryComplete(), SOURCE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        named.future().onComplete(ar -> {
            awaitingWorkload.remove(named);
            awaitingCount.decrementAndGet();
            timer.cancel(false);
        });
        // a push between the caller's lookup and the add above found no waiter: look once more
        Workload now = workload(client);
        if (now != null) {
            named.tryComplete(now);
        }
        return named.future();
    }

    void closeRevoked(TrustSnapshot trust, boolean rootsRemoved, RevokedConnections revoked) {
        inbound.closeRevoked(trust, rootsRemoved, revoked);
        pool.closeRevoked(trust, rootsRemoved, revoked);
    }

    /**
     * The workload a connection or query of this pod comes from: this pod, whatever address it uses. The workload
     * of the client's address when that is this pod (the common case, one lookup), else the pod found by name; null
     * while discovery does not know it.
     */
    Workload workload(InetAddress client) {
        return workload(node.store().current(), client);
    }

    /** {@link #workload(InetAddress)} in {@code index}; {@code client} null: by name only. */
    private Workload workload(WorkloadIndex index, InetAddress client) {
        String here = node.config().node().name();
        Workload byIp = client == null ? null : index.workloadByIp(client);
        if (byIp != null && isThisPod(byIp, here)) {
            return byIp;
        }
        for (Workload w : index.workloadsOnNode(here)) {
            if (isThisPod(w, here)) {
                return w;
            }
        }
        return null;
    }

    private boolean isThisPod(Workload w, String here) {
        return here.equals(w.getNode()) && info.getName().equals(w.getName())
                && info.getNamespace().equals(w.getNamespace());
    }

    /** Captured connections are this pod's; their destination is the one before the agent's REDIRECT. */
    private final class PodCapture implements OutboundListeners.Capture {
        private final int capturePort;

        PodCapture(ZtunnelConfig config) {
            this.capturePort = config.listeners().outboundCapture();
        }

        @Override
        public Workload source(Channel ch) {
            return workload(((InetSocketAddress) ch.remoteAddress()).getAddress());
        }

        @Override
        public Future<Workload> sourceLater(Channel ch) {
            return awaitWorkload(ch.eventLoop(), ((InetSocketAddress) ch.remoteAddress()).getAddress());
        }

        @Override
        public InetSocketAddress destination(Channel ch) {
            InetSocketAddress local = (InetSocketAddress) ch.localAddress();
            InetSocketAddress original = OriginalDestination.of(ch);
            // not redirected, and addressed to the capture port: an application calling 15001 itself
            return original.equals(local) && local.getPort() == capturePort ? null : original;
        }
    }
}
