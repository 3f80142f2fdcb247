package io.jmesh.ztunnel.outbound;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.Workloads;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Istio's outbound decision (brief §5), on one immutable index snapshot:
 * <ol>
 *   <li>a service (by VIP or hostname) with a waypoint → HBONE to the waypoint, authority = the original VIP:port;
 *   <li>a service → a healthy endpoint picked at random weighted by capacity; none → refused (or passthrough for a
 *       PASSTHROUGH service);
 *   <li>a pod IP whose workload has a waypoint (and the caller is not that waypoint) → HBONE to the waypoint;
 *   <li>an HBONE workload → HBONE to it ({@code podIP:15008}, or its node's ztunnel in local mode), authority
 *       {@code podIP:targetPort}; a workload without HBONE → plain TCP;
 *   <li>anything else (outside the mesh) → plain TCP passthrough.
 * </ol>
 */
public final class OutboundRouter {

    private final ZtunnelConfig config;

    public OutboundRouter(ZtunnelConfig config) {
        this.config = config;
    }

    public Route route(WorkloadIndex index, Workload source, String host, int port) {
        Service service;
        InetAddress ip = null;
        if (StaticConfigFile.looksLikeIp(host)) {
            try {
                ip = InetAddress.getByName(host);
            } catch (UnknownHostException e) {
                return new Route.Reject("bad_destination", "destination '" + host + "' is not an IP address");
            }
            service = index.serviceByVip(ip);
        } else {
            service = index.serviceByHostname(host);
            if (service == null) {
                return new Route.Reject("unknown_host", "hostname '" + host + "' is not a service of the mesh"
                        + " (ztunnel resolves only mesh service hostnames)");
            }
        }
        if (service != null) {
            return viaService(index, source, service, host, ip, port);
        }
        Workload w = index.workloadByIp(ip);
        if (w == null) {
            return new Route.Passthrough(new InetSocketAddress(ip, port), null, null);
        }
        if (w.hasWaypoint() && !isWaypointOf(index, source, w.getWaypoint())) {
            return viaWaypoint(index, w.getWaypoint(), hostPort(ip, port), null, Set.of());
        }
        return direct(w, ip, port, null);
    }

    private Route viaService(WorkloadIndex index, Workload source, Service service, String host, InetAddress vip,
            int port) {
        if (service.hasWaypoint() && !isWaypointOf(index, source, service.getWaypoint())) {
            InetAddress authIp = vip != null ? vip : firstVip(service);
            String authority = authIp != null ? hostPort(authIp, port) : host + ":" + port;
            return viaWaypoint(index, service.getWaypoint(), authority, service, Set.of());
        }
        boolean allowAll = service.getLoadBalancing().getHealthPolicy() == LoadBalancing.HealthPolicy.ALLOW_ALL;
        List<Workload> candidates = new ArrayList<>();
        for (Workload w : index.endpoints(service)) {
            if ((allowAll || w.getStatus() == WorkloadStatus.HEALTHY) && w.getAddressesCount() > 0
                    && targetPort(service, w, port) > 0) {
                candidates.add(w);
            }
        }
        if (candidates.isEmpty()) {
            if (service.getLoadBalancing().getMode() == LoadBalancing.Mode.PASSTHROUGH && vip != null) {
                return new Route.Passthrough(new InetSocketAddress(vip, port), null, service);
            }
            return new Route.Reject("no_healthy_upstream", "service " + WorkloadIndex.name(service)
                    + " has no healthy endpoint for port " + port);
        }
        Workload ep = pick(candidates);
        InetAddress epIp = WorkloadIndex.firstIp(ep);
        return direct(ep, epIp, targetPort(service, ep, port), service);
    }

    private Route direct(Workload w, InetAddress ip, int port, Service service) {
        if (w.getTunnelProtocol() != TunnelProtocol.HBONE) {
            return new Route.Passthrough(new InetSocketAddress(ip, port), w, service);
        }
        Set<SpiffeId> expected = new HashSet<>();
        expected.add(Workloads.identity(w, config.node().trustDomain()));
        if (service != null) {
            addSans(expected, service);
        }
        return new Route.Hbone(hboneAddress(w, ip), hostPort(ip, port), expected, w, service);
    }

    private Route viaWaypoint(WorkloadIndex index, GatewayAddress gw, String authority, Service service,
            Set<SpiffeId> extra) {
        int hbonePort = gw.getHboneMtlsPort() == 0 ? 15008 : gw.getHboneMtlsPort();
        Workload waypoint = null;
        Service waypointService = null;
        if (gw.hasAddress()) {
            InetAddress ip = ip(gw.getAddress().getAddress().toByteArray());
            waypoint = index.workloadByIp(ip);
            waypointService = index.serviceByVip(ip);
            if (waypoint == null && waypointService != null) {
                waypoint = healthy(index, waypointService);
            }
        } else if (gw.hasHostname()) {
            waypointService = index.serviceByName(gw.getHostname().getNamespace() + "/" + gw.getHostname().getHostname());
            if (waypointService != null) {
                waypoint = healthy(index, waypointService);
            }
        }
        if (waypoint == null) {
            return new Route.Reject("no_waypoint", "waypoint " + gw + " has no healthy workload");
        }
        Set<SpiffeId> expected = new HashSet<>(extra);
        expected.add(Workloads.identity(waypoint, config.node().trustDomain()));
        if (waypointService != null) {
            addSans(expected, waypointService);
        }
        InetAddress wip = WorkloadIndex.firstIp(waypoint);
        return new Route.Hbone(new InetSocketAddress(wip, hbonePort), authority, expected, waypoint, service);
    }

    private static Workload healthy(WorkloadIndex index, Service s) {
        List<Workload> c = new ArrayList<>();
        for (Workload w : index.endpoints(s)) {
            if (w.getStatus() == WorkloadStatus.HEALTHY && w.getAddressesCount() > 0) {
                c.add(w);
            }
        }
        return c.isEmpty() ? null : pick(c);
    }

    /** The caller is the waypoint itself (its traffic must not loop back to it). */
    private static boolean isWaypointOf(WorkloadIndex index, Workload source, GatewayAddress gw) {
        if (source == null || source.getAddressesCount() == 0) {
            return false;
        }
        InetAddress src = WorkloadIndex.firstIp(source);
        if (gw.hasAddress()) {
            return src.equals(ip(gw.getAddress().getAddress().toByteArray()));
        }
        if (gw.hasHostname()) {
            Service s = index.serviceByName(gw.getHostname().getNamespace() + "/" + gw.getHostname().getHostname());
            return s != null && index.endpoints(s).contains(source);
        }
        return false;
    }

    /**
     * Where a workload's HBONE is terminated: its node's ztunnel in local mode, else {@code podIP:15008} (in
     * transparent mode a pod on this node too: the capture rules loop our own dial back to our 15008, with the pod
     * as the local address, so the right certificate answers).
     */
    private InetSocketAddress hboneAddress(Workload w, InetAddress ip) {
        String nodeAddr = config.node().ztunnelAddresses().get(w.getNode());
        if (nodeAddr != null) {
            int colon = nodeAddr.lastIndexOf(':');
            return new InetSocketAddress(nodeAddr.substring(0, colon).replace("[", "").replace("]", ""),
                    Integer.parseInt(nodeAddr.substring(colon + 1)));
        }
        return new InetSocketAddress(ip, config.listeners().hbone() > 0 ? config.listeners().hbone() : 15008);
    }

    /** Service port → the endpoint's target port; 0 when the service does not expose the port. */
    static int targetPort(Service s, Workload w, int servicePort) {
        PortList own = w.getServicesMap().get(WorkloadIndex.name(s));
        if (own != null) {
            for (Port p : own.getPortsList()) {
                if (p.getServicePort() == servicePort) {
                    return p.getTargetPort() == 0 ? servicePort : p.getTargetPort();
                }
            }
        }
        for (Port p : s.getPortsList()) {
            if (p.getServicePort() == servicePort) {
                return p.getTargetPort() == 0 ? servicePort : p.getTargetPort();
            }
        }
        return s.getPortsCount() == 0 ? servicePort : 0;
    }

    private static void addSans(Set<SpiffeId> out, Service s) {
        for (String san : s.getSubjectAltNamesList()) {
            SpiffeId id = SpiffeId.tryParse(san);
            if (id != null) {
                out.add(id);
            }
        }
    }

    /** Random choice weighted by capacity (Istio: default weight 1). */
    static Workload pick(List<Workload> candidates) {
        if (candidates.size() == 1) {
            return candidates.get(0);
        }
        long total = 0;
        for (Workload w : candidates) {
            total += Math.max(0, Workloads.capacity(w));
        }
        if (total <= 0) {
            return candidates.get(ThreadLocalRandom.current().nextInt(candidates.size()));
        }
        long r = ThreadLocalRandom.current().nextLong(total);
        for (Workload w : candidates) {
            r -= Math.max(0, Workloads.capacity(w));
            if (r < 0) {
                return w;
            }
        }
        return candidates.get(candidates.size() - 1);
    }

    private static InetAddress firstVip(Service s) {
        return s.getAddressesCount() == 0 ? null : ip(s.getAddresses(0).getAddress().toByteArray());
    }

    private static InetAddress ip(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static String hostPort(InetAddress ip, int port) {
        String h = ip.getHostAddress();
        return (h.indexOf(':') >= 0 ? "[" + h + "]" : h) + ":" + port;
    }
}
