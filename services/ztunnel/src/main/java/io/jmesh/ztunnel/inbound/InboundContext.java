package io.jmesh.ztunnel.inbound;

import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tunnel.NetTransport;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What the inbound side needs, in one place.
 *
 * @param ownPorts ztunnel's own listener ports: a CONNECT to one of them is refused (no self-calls)
 * @param nodeAddress the address inbound connections to applications come from (outside transparent mode)
 * @param openTunnels open inbound tunnels, re-checked when policy changes
 * @param appTunnelOnLoopback deliver PROXY application tunnels on loopback (in-pod mode: the pod's own)
 * @param ownTunnel whether an inbound HBONE connection's peer is this ztunnel's own outbound connection (a
 *     same-node tunnel in transparent mode)
 */
record InboundContext(ZtunnelConfig config, WorkloadStore store, IdentityManager identities, Authorizer authorizer,
        ConnectionTelemetry telemetry, NetTransport net, Set<Integer> ownPorts, InetAddress nodeAddress,
        OpenInbound openTunnels, boolean appTunnelOnLoopback, Predicate<InetSocketAddress> ownTunnel) {

    String node() {
        return config.node().name();
    }

    String trustDomain() {
        return config.node().trustDomain();
    }
}
