package io.jmesh.policy.state;

import io.jmesh.proto.config.v1.ConfigRecord;

/**
 * A {@code Pod} record without an address: the pod is scheduled but the kubelet has not reported its IP yet, or its
 * phase is {@code Unknown} (its node lost: the last IP reported may be gone). The record is there for the ca's placement alone (the pod's ztunnel asks for its certificate before the IP is known);
 * to discovery it is no workload yet: no Address, no endpoint of any Service, selected by no policy, in no node's
 * scope. A {@code WorkloadEntry} always has an address (validation requires it).
 */
final class PlacedOnlyPods {

    private PlacedOnlyPods() {}

    static boolean placedOnly(ConfigRecord r) {
        return "Pod".equals(r.getKind()) && r.getWorkloadEntry().getAddress().isEmpty();
    }
}
