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

    /**
     * A service endpoint known by hostname only (Istio's on-demand DNS: a ServiceEntry endpoint with DNS resolution):
     * {@link OutboundProxy} resolves the name, then {@link OutboundRouter#resolved} turns this into the route an
     * endpoint at that address would take (plain TCP, or HBONE to {@code ip:15008} with authority {@code ip:port}).
     *
     * @param hostname the endpoint's {@code Workload.hostname}
     * @param port the target port on the endpoint
     * @param ipv6 whether the original destination is IPv6: addresses of its family are preferred
     * @param destination the endpoint workload
     * @param service the service the client addressed
     */
    record Resolve(String hostname, int port, boolean ipv6, Workload destination, Service service)
            implements Route {}

    /** Refused, with a counted reason and a precise message. */
    record Reject(String reason, String detail) implements Route {}
}
