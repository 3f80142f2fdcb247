package io.jmesh.ztunnel.inbound;

import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * A waypoint that ztunnel itself captures, without an application tunnel (Istio's "waypoint sandwich" matching on
 * L7 only): its clients' CONNECTs name the original destination, not the waypoint. Istio's inbound
 * ({@code validate_destination}) accepts such an authority when the address it names, a workload or else a service
 * VIP, has the addressed workload as its waypoint; the tunnel then goes to the waypoint on the authority's port.
 */
final class SandwichedWaypoint {

    private SandwichedWaypoint() {}

    /**
     * Whether {@code target} (a workload's address, else a service VIP, on this index's network) has {@code local}
     * as its waypoint: the waypoint is {@code local} itself (by address) or a service {@code local} is an endpoint of.
     */
    static boolean isWaypointFor(WorkloadIndex index, InetAddress target, Workload local) {
        GatewayAddress waypoint = waypointOf(index, target);
        if (waypoint == null) {
            return false;
        }
        if (waypoint.hasHostname()) {
            Service s = index.serviceByName(waypoint.getHostname().getNamespace() + "/"
                    + waypoint.getHostname().getHostname());
            return s != null && isEndpoint(index, s, local);
        }
        if (!waypoint.hasAddress()) {
            return false;
        }
        String network = waypoint.getAddress().getNetwork().isEmpty() ? index.network()
                : waypoint.getAddress().getNetwork();
        InetAddress at;
        try {
            at = InetAddress.getByAddress(waypoint.getAddress().getAddress().toByteArray());
        } catch (UnknownHostException e) {
            return false; // validated on the way in
        }
        // a workload first, then a service VIP, as Istio resolves an address
        Workload w = index.workloadAt(network, at);
        if (w != null) {
            return w.getUid().equals(local.getUid());
        }
        Service s = index.serviceAt(network, at);
        return s != null && isEndpoint(index, s, local);
    }

    /** The waypoint of the workload at {@code target}, else of the service with that VIP; null when none. */
    private static GatewayAddress waypointOf(WorkloadIndex index, InetAddress target) {
        Workload w = index.workloadByIp(target);
        if (w != null) {
            return w.hasWaypoint() ? w.getWaypoint() : null;
        }
        Service s = index.serviceByVip(target);
        return s != null && s.hasWaypoint() ? s.getWaypoint() : null;
    }

    private static boolean isEndpoint(WorkloadIndex index, Service s, Workload local) {
        for (Workload e : index.endpoints(s)) {
            if (e.getUid().equals(local.getUid())) {
                return true;
            }
        }
        return false;
    }
}
