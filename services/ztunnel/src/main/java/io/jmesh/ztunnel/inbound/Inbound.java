package io.jmesh.ztunnel.inbound;

import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tunnel.NetTransport;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.function.Predicate;

/** Entry point of the inbound side: builds the {@link InboundListeners}; open tunnels are re-checked on every policy change
 * and when a workload push changes their destination's selector policies. */
public final class Inbound {

    private Inbound() {}

    public static InboundListeners listeners(ZtunnelConfig config, WorkloadStore store, IdentityManager identities,
            Authorizer authorizer, ConnectionTelemetry telemetry, NetTransport net, Set<Integer> ownPorts,
            InetAddress nodeAddress, AuthorizationStore policies, Predicate<InetSocketAddress> ownTunnel) {
        OpenInbound open = new OpenInbound(authorizer, telemetry, store);
        policies.onChange(open::recheck);
        return new InboundListeners(new InboundContext(config, store, identities, authorizer, telemetry, net,
                Set.copyOf(ownPorts), nodeAddress, open, false, ownTunnel));
    }

    /**
     * In-pod mode: the inbound listeners of one pod, bound on {@code bindAddress} in the pod's network namespace
     * (which {@code podNet} creates its sockets in), sharing everything else with {@code node}'s: the workload
     * store, identities, authorization and the open-tunnel registry that policy changes re-check.
     */
    public static InboundListeners forPod(InboundListeners node, ZtunnelConfig podConfig, NetTransport podNet,
            InetAddress bindAddress) {
        InboundContext c = node.context();
        return new InboundListeners(new InboundContext(podConfig, c.store(), c.identities(), c.authorizer(),
                c.telemetry(), podNet, c.ownPorts(), bindAddress, c.openTunnels(), true, c.ownTunnel()));
    }
}
