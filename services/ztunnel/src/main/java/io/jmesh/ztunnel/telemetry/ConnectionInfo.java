package io.jmesh.ztunnel.telemetry;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetSocketAddress;

/**
 * What telemetry knows about one proxied connection when it opens.
 *
 * @param outbound true when reported by the source side ({@code reporter="source"})
 * @param source the source workload, null when unknown
 * @param destination the destination workload, null when unknown (passthrough)
 * @param sourcePrincipal verified peer identity (inbound) or our own identity (outbound HBONE); null otherwise
 * @param destinationPrincipal the destination's identity when mTLS was used
 * @param service the destination service when the traffic was service-addressed, or named by {@code forwarded}
 * @param sourceAddress the client's address
 * @param destinationAddress the L4 destination (a ztunnel's 15008 for HBONE, else the target)
 * @param hboneAddress the CONNECT authority, empty when not tunnelled
 * @param mtls whether the connection was carried over mutual TLS
 */
public record ConnectionInfo(boolean outbound, Workload source, Workload destination, SpiffeId sourcePrincipal,
        SpiffeId destinationPrincipal, Service service, InetSocketAddress sourceAddress,
        InetSocketAddress destinationAddress, String hboneAddress, boolean mtls) {}
