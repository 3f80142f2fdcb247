package io.jmesh.ztunnel.discovery;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import java.util.List;
import java.util.Map;

/**
 * Checks an {@link Address} resource before it enters the index; a bad one is rejected alone, with a reason. What is
 * refused is what Istio's ztunnel fails to convert ({@code Workload::try_from}, {@code Service::try_from}): addresses
 * (the workload's, a VIP, a waypoint's or network gateway's) that are no IP, a gateway with no destination, enum
 * values this version does not know, a {@code services} key that is no {@code namespace/hostname}; and, where Istio
 * truncates to 16 bits, a port above 65535 (the data path would fail building the socket address per connection).
 * Beyond Istio's (which keeps identities as plain strings): a workload whose trust domain, namespace or service
 * account cannot make a SPIFFE id (every connection to or from it would fail building its identity).
 */
final class AddressValidator {

    private AddressValidator() {}

    /** Null when valid, else a precise reason naming the field. */
    static String problem(String resourceName, Address a) {
        if (a.hasWorkload()) {
            Workload w = a.getWorkload();
            if (w.getUid().isEmpty()) {
                return "workload " + resourceName + ": uid is empty";
            }
            if (!resourceName.equals(w.getUid())) {
                return "workload " + resourceName + ": resource name differs from uid '" + w.getUid() + "'";
            }
            if (w.getNamespace().isEmpty()) {
                return "workload " + resourceName + ": namespace is empty";
            }
            try {
                // every connection to or from it needs its identity: one that cannot be formed would fail each of them
                Workloads.identity(w, SpiffeId.DEFAULT_TRUST_DOMAIN);
            } catch (IllegalArgumentException e) {
                return "workload " + resourceName + ": no SPIFFE identity: " + e.getMessage();
            }
            for (int i = 0; i < w.getAddressesCount(); i++) {
                int n = w.getAddresses(i).size();
                if (n != 4 && n != 16) {
                    return "workload " + resourceName + ": addresses[" + i + "] has " + n + " bytes (expected: 4 or 16)";
                }
            }
            String what = "workload " + resourceName + ": ";
            String problem = w.hasWaypoint() ? gatewayProblem(what, "waypoint", w.getWaypoint()) : null;
            if (problem == null && w.hasNetworkGateway()) {
                problem = gatewayProblem(what, "network_gateway", w.getNetworkGateway());
            }
            if (problem == null) {
                problem = enumProblem(what, "tunnel_protocol", w.getTunnelProtocol() == TunnelProtocol.UNRECOGNIZED,
                        w.getTunnelProtocolValue(), "NONE, HBONE or LEGACY_ISTIO_MTLS");
            }
            if (problem == null) {
                problem = enumProblem(what, "status", w.getStatus() == WorkloadStatus.UNRECOGNIZED, w.getStatusValue(),
                        "HEALTHY or UNHEALTHY");
            }
            if (problem == null) {
                problem = enumProblem(what, "network_mode", w.getNetworkMode() == NetworkMode.UNRECOGNIZED,
                        w.getNetworkModeValue(), "STANDARD or HOST_NETWORK");
            }
            if (problem == null && w.hasApplicationTunnel()) {
                ApplicationTunnel t = w.getApplicationTunnel();
                problem = enumProblem(what, "application_tunnel.protocol",
                        t.getProtocol() == ApplicationTunnel.Protocol.UNRECOGNIZED, t.getProtocolValue(), "NONE or PROXY");
                if (problem == null) {
                    problem = portProblem(what, "application_tunnel.port", t.getPort());
                }
            }
            for (Map.Entry<String, PortList> e : w.getServicesMap().entrySet()) {
                if (problem != null) {
                    break;
                }
                if (e.getKey().indexOf('/') < 0) {
                    return what + "services key '" + e.getKey() + "' is not namespace/hostname";
                }
                problem = portsProblem(what, "services[" + e.getKey() + "].ports", e.getValue().getPortsList());
            }
            return problem;
        }
        if (a.hasService()) {
            Service s = a.getService();
            if (s.getNamespace().isEmpty() || s.getHostname().isEmpty()) {
                return "service " + resourceName + ": namespace and hostname are required";
            }
            if (!resourceName.equals(WorkloadIndex.name(s))) {
                return "service " + resourceName + ": resource name differs from namespace/hostname '"
                        + WorkloadIndex.name(s) + "'";
            }
            for (int i = 0; i < s.getAddressesCount(); i++) {
                NetworkAddress na = s.getAddresses(i);
                int n = na.getAddress().size();
                if (n != 4 && n != 16) {
                    return "service " + resourceName + ": addresses[" + i + "] has " + n + " bytes (expected: 4 or 16)";
                }
            }
            String what = "service " + resourceName + ": ";
            String problem = s.hasWaypoint() ? gatewayProblem(what, "waypoint", s.getWaypoint()) : null;
            if (problem == null) {
                problem = portsProblem(what, "ports", s.getPortsList());
            }
            return problem != null ? problem : loadBalancingProblem(resourceName, s.getLoadBalancing());
        }
        return "address " + resourceName + ": neither workload nor service is set";
    }

    /** A waypoint or network gateway: an address that is an IP, or a hostname; a port that is a port. */
    private static String gatewayProblem(String what, String field, GatewayAddress g) {
        if (g.hasAddress()) {
            int n = g.getAddress().getAddress().size();
            if (n != 4 && n != 16) {
                return what + field + ".address has " + n + " bytes (expected: 4 or 16)";
            }
        } else if (!g.hasHostname()) {
            return what + field + " has neither address nor hostname";
        }
        return portProblem(what, field + ".hbone_mtls_port", g.getHboneMtlsPort());
    }

    private static String portsProblem(String what, String field, List<Port> ports) {
        for (int i = 0; i < ports.size(); i++) {
            String problem = portProblem(what, field + "[" + i + "].service_port", ports.get(i).getServicePort());
            if (problem == null) {
                problem = portProblem(what, field + "[" + i + "].target_port", ports.get(i).getTargetPort());
            }
            if (problem != null) {
                return problem;
            }
        }
        return null;
    }

    /** A {@code uint32} port (0: unset) above 65535. */
    private static String portProblem(String what, String field, int port) {
        return Integer.compareUnsigned(port, 65535) > 0
                ? what + field + " " + Integer.toUnsignedString(port) + " is out of range (0-65535)" : null;
    }

    private static String enumProblem(String what, String field, boolean unknown, int value, String expected) {
        return unknown ? what + field + " " + value + " is unknown (expected: " + expected + ")" : null;
    }

    /**
     * A load balancing ztunnel cannot apply as written (Istio's ztunnel refuses the service too): a preference
     * that is no scope, or a mode or health policy this version does not know.
     */
    private static String loadBalancingProblem(String resourceName, LoadBalancing lb) {
        for (int i = 0; i < lb.getRoutingPreferenceCount(); i++) {
            LoadBalancing.Scope scope = lb.getRoutingPreference(i);
            if (scope == LoadBalancing.Scope.UNSPECIFIED_SCOPE || scope == LoadBalancing.Scope.UNRECOGNIZED) {
                return "service " + resourceName + ": load_balancing.routing_preference[" + i + "] is "
                        + (scope == LoadBalancing.Scope.UNRECOGNIZED ? lb.getRoutingPreferenceValue(i) : scope)
                        + " (expected: REGION, ZONE, SUBZONE, NODE, CLUSTER or NETWORK)";
            }
        }
        if (lb.getMode() == LoadBalancing.Mode.UNRECOGNIZED) {
            return "service " + resourceName + ": load_balancing.mode " + lb.getModeValue()
                    + " is unknown (expected: UNSPECIFIED_MODE, STRICT, FAILOVER or PASSTHROUGH)";
        }
        if (lb.getHealthPolicy() == LoadBalancing.HealthPolicy.UNRECOGNIZED) {
            return "service " + resourceName + ": load_balancing.health_policy " + lb.getHealthPolicyValue()
                    + " is unknown (expected: ONLY_HEALTHY or ALLOW_ALL)";
        }
        return null;
    }
}
