package io.jmesh.ztunnel.discovery;

import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;

/** Checks an {@link Address} resource before it enters the index; a bad one is rejected alone, with a reason. */
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
            for (int i = 0; i < w.getAddressesCount(); i++) {
                int n = w.getAddresses(i).size();
                if (n != 4 && n != 16) {
                    return "workload " + resourceName + ": addresses[" + i + "] has " + n + " bytes (expected: 4 or 16)";
                }
            }
            return null;
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
            return loadBalancingProblem(resourceName, s.getLoadBalancing());
        }
        return "address " + resourceName + ": neither workload nor service is set";
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
