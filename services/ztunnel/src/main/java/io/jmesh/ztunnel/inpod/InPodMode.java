package io.jmesh.ztunnel.inpod;

import io.jmesh.core.admin.Readiness;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.dns.DnsMetrics;
import io.jmesh.ztunnel.dns.DnsProxy;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.inbound.InboundListeners;
import io.jmesh.ztunnel.outbound.HostnameResolver;
import io.jmesh.ztunnel.pool.PoolMetrics;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.jmesh.ztunnel.trust.RevokedConnections;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.util.Set;

/**
 * Istio's in-pod mode ({@code inpod.enabled}): the link to the CNI node agent and the pods' proxies it asks for.
 * Ready (task {@code workload-proxy-manager}) once the agent's first snapshot is reconciled and every pod's proxy
 * runs; not ready again while the agent is unreachable.
 */
public final class InPodMode {

    /** The readiness task done once the CNI agent's first snapshot of this node's pods has arrived (Istio's name). */
    public static final String SNAPSHOT_TASK = "workload-proxy-manager";

    private final PodProxies pods;
    private final NodeAgentLink link;

    private InPodMode(PodProxies pods, NodeAgentLink link) {
        this.pods = pods;
        this.link = link;
    }

    /**
     * Loads the native calls and checks that this process may enter other network namespaces, failing with a
     * precise message otherwise. Blocking (file I/O on first use): call it off the event loops, before {@link #start}.
     */
    public static void preflight() {
        PodNetns.checkCapable();
    }

    /**
     * Starts connecting to the agent ({@link #preflight} first). {@code nodeInbound} is the template every pod's
     * inbound listeners share state with; {@code dns} (null: none) the settings of the pods' DNS proxies, which
     * listen on each pod's loopback. {@code podsChanged} runs (on the agent link's thread) whenever the pods, and so
     * {@link #identities}, change.
     */
    public static InPodMode start(Vertx vertx, ZtunnelConfig config, WorkloadStore store, IdentityManager identities,
            ConnectionTelemetry telemetry, InboundListeners nodeInbound, PoolMetrics poolMetrics,
            DnsProxy.Settings dns, DnsMetrics dnsMetrics, HostnameResolver hostnames, Readiness readiness,
            PrometheusRegistry metrics, Runnable podsChanged) {
        PodProxies pods = new PodProxies(new PodProxy.Node(vertx, config, store, identities, telemetry, nodeInbound,
                poolMetrics, dns, dnsMetrics, hostnames), metrics, podsChanged);
        var inpod = config.inpod();
        NodeAgentLink link = new NodeAgentLink(inpod.socket(), pods, readiness.register(SNAPSHOT_TASK),
                inpod.retryInterval(), metrics);
        link.start();
        return new InPodMode(pods, link);
    }

    public void onWorkloadsChanged(WorkloadIndex next) {
        pods.onWorkloadsChanged(next);
    }

    public void closeRevoked(TrustSnapshot trust, boolean rootsRemoved, RevokedConnections revoked) {
        pods.closeRevoked(trust, rootsRemoved, revoked);
    }

    /** Drain: the pods stop accepting and send GOAWAY; their tunnels may finish. */
    public void drain() {
        pods.drain();
    }

    public int openConnections() {
        return pods.openConnections();
    }

    /** The identities of the pods the agent added (running or pending), from their {@code WorkloadInfo}. */
    public Set<io.jmesh.core.identity.SpiffeId> identities() {
        return pods.identities();
    }

    /** Connections and DNS queries held until discovery names their pod's workload (tests). */
    int connectionsAwaitingWorkload() {
        return pods.awaitingWorkload();
    }

    /** Uids of the pods proxied now. */
    public Set<String> pods() {
        return pods.activeUids();
    }

    /** The pods' proxies by uid ({@code /config_dump}'s {@code workloadState}). */
    public io.vertx.core.json.JsonObject state() {
        return pods.state();
    }

    public void close() {
        link.stop();
        pods.closeAll();
    }
}
