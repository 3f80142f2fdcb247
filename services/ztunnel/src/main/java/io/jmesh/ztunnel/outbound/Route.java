package io.jmesh.ztunnel.outbound;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetSocketAddress;
import java.util.Set;

/** Where an outbound connection goes, decided by {@link OutboundRouter}. */
public sealed interface Route {

    /**
     * Through an HBONE tunnel.
     *
     * @param l4 where the TLS connection goes (a workload's or waypoint's 15008, or its node's ztunnel)
     * @param authority the CONNECT target ({@code podIP:targetPort}, or the original destination for a waypoint)
     * @param expected identities the server may prove
     * @param destination the workload that terminates the tunnel (the waypoint when there is one)
     * @param service the service the client addressed, if any
     */
    record Hbone(InetSocketAddress l4, String authority, Set<SpiffeId> expected, Workload destination,
            Service service) implements Route {}

    /**
     * Double HBONE (Istio's multi-network path): an HBONE tunnel to the east-west gateway of the destination's
     * network, CONNECT {@code hostname:port} of the service, and inside that tunnel a second mTLS handshake and
     * CONNECT with the destination workload itself. The gateway forwards the inner bytes without reading them.
     *
     * @param gateway the outer tunnel: to the gateway's HBONE port, the gateway's identities expected, the
     *     authority {@code <service hostname>:<service port>}; its destination is the gateway workload
     * @param expected the identities the destination workload may prove in the inner handshake
     * @param destination the workload the inner tunnel ends at
     * @param service the service the client addressed (cross-network traffic is always service-addressed)
     */
    record DoubleHbone(Hbone gateway, Set<SpiffeId> expected, Workload destination, Service service)
            implements Route {}

    /** Plain TCP to {@code target}: destinations outside the mesh, or workloads that do not speak HBONE. */
    record Passthrough(InetSocketAddress target, Workload destination, Service service) implements Route {}

    /** Refused, with a counted reason and a precise message. */
    record Reject(String reason, String detail) implements Route {}
}
