package io.jmesh.ztunnel.inbound;

import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadIndex;

/**
 * The service a hostname {@code :authority} names. One hostname may be the service of several namespaces (a
 * ServiceEntry host written in each): the index keeps one per hostname, which need not be the one the addressed
 * workload serves. Istio's inbound prefers the service of the addressed workload's namespace; here, among the
 * addressed workload's own services of that hostname, the one of its namespace first.
 */
final class HostnameAuthority {

    private HostnameAuthority() {}

    /** The service {@code hostname} (lower case) names at {@code addressed} (null: any); null when none has it. */
    static Service service(WorkloadIndex index, Workload addressed, String hostname) {
        if (addressed != null) {
            Service own = index.serviceByName(addressed.getNamespace() + "/" + hostname);
            if (own != null && addressed.getServicesMap().containsKey(WorkloadIndex.name(own))) {
                return own;
            }
            for (String name : addressed.getServicesMap().keySet()) {
                int slash = name.indexOf('/');
                if (name.substring(slash + 1).equalsIgnoreCase(hostname)) {
                    Service s = index.serviceByName(name);
                    if (s != null) {
                        return s;
                    }
                }
            }
        }
        return index.serviceByHostname(hostname);
    }
}
