package io.jmesh.ztunnel.outbound;

import io.jmesh.core.net.IpLiteral;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.IPFamilies;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.ServiceEndpoints;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.Workloads;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;

/**
 * Istio's outbound decision (brief §5), on one immutable index snapshot:
 * <ol>
 *   <li>loopback, the wildcard address or this node's address on one of ztunnel's own ports → refused
 *       ({@value #ILLEGAL_PORT}: Istio refuses loopback on its capture ports; every listener here, the admin too);
 *   <li>a service (by VIP or hostname) with a waypoint → HBONE to the waypoint, authority = the original VIP:port;
 *       a waypoint on another network → double HBONE through that network's east-west gateway, as an endpoint
 *       there would be;
 *   <li>a PASSTHROUGH service (with a VIP) → plain TCP to the original destination (its VIP when named by
 *       hostname), endpoints or not;
 *   <li>a service → one of its endpoints as its load balancing says ({@link ServiceEndpoints}: healthy ones
 *       unless ALLOW_ALL, the closest rank to the source under FAILOVER/STRICT, weighted by capacity); none → refused,
 *       STRICT with none in the source's locality → refused with
 *       {@value ServiceEndpoints#NO_ENDPOINT_IN_LOCALITY}; an endpoint on another network than this node's →
 *       double HBONE through that network's east-west gateway (none named → refused); an endpoint known by hostname
 *       only → {@link Route.Resolve}, which the proxy resolves and {@link #resolved} finishes; a dual-stack endpoint
 *       (or waypoint) is dialled at its address of the original destination's family, within the service's
 *       {@code ip_families} (none there → refused, {@value #NO_VALID_DESTINATION});
 *   <li>a pod IP of another network's workload → passthrough, as for an unknown address (Istio looks addresses
 *       up on the caller's network: other networks are reached by service only);
 *   <li>a pod IP whose workload has a waypoint (and the caller is not that waypoint) → HBONE to the waypoint (one on
 *       another network → refused: other networks are reached by service only);
 *   <li>an HBONE workload → HBONE to it ({@code podIP:15008}, or its node's ztunnel in local mode), authority
 *       {@code podIP:targetPort}; a workload without HBONE → plain TCP;
 *   <li>anything else (outside the mesh) → plain TCP passthrough.
 * </ol>
 */
public final class OutboundRouter {

    /** Reason: a hostname endpoint whose name did not resolve, or resolved to no address (Istio: NoResolvedAddresses). */
    public static final String NO_RESOLVED_ADDRESSES = "no_resolved_addresses";

    /** Reason: the chosen workload has no address to dial in the service's IP families (Istio: NoValidDestination). */
    public static final String NO_VALID_DESTINATION = "no_valid_destination";

    /** Reason: a destination that is ztunnel itself, on one of its own ports (Istio: SelfCall). */
    public static final String ILLEGAL_PORT = "illegal_port";

    private final ZtunnelConfig config;
    private final Supplier<RandomGenerator> random;
    private final Set<Integer> ownPorts;
    private final Set<InetAddress> nodeAddresses = new HashSet<>();

    public OutboundRouter(ZtunnelConfig config) {
        this(config, ThreadLocalRandom::current);
    }

    /** @param random the generator endpoint choices draw from, asked on the calling thread (tests fix it) */
    public OutboundRouter(ZtunnelConfig config, Supplier<RandomGenerator> random) {
        this.config = config;
        this.random = random;
        this.ownPorts = config.ownPorts();
        for (String a : new String[] {config.node().address(), config.node().dualStackAddress()}) {
            InetAddress ip = IpLiteral.parse(a);
            if (ip != null) {
                nodeAddresses.add(ip);
            }
        }
    }

    public Route route(WorkloadIndex index, Workload source, String host, int port) {
        Service service;
        InetAddress ip = IpLiteral.parse(host);
        if (ip != null && ownPorts.contains(port) && isThisNode(ip)) {
            // a workload asking ztunnel to connect to ztunnel: its admin, its capture ports (a loop), its SOCKS5
            return new Route.Reject(ILLEGAL_PORT, IpLiteral.hostPort(ip, port) + " is ztunnel's own port on this node"
                    + " (no self-calls)");
        }
        if (ip != null) {
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
        if (w == null || !onOurNetwork(w)) {
            // a pod address means this network's pod: another network's workloads are reached by service only
            return new Route.Passthrough(new InetSocketAddress(ip, port), null, null);
        }
        if (w.hasWaypoint() && !isWaypointOf(index, source, w.getWaypoint())) {
            return viaWaypoint(index, source, w.getWaypoint(), IpLiteral.hostPort(ip, port), null, port,
                    ip instanceof Inet6Address);
        }
        return direct(w, ip, port, null);
    }

    /** Loopback, the wildcard address or one of the node's own addresses: where ztunnel's listeners are. */
    private boolean isThisNode(InetAddress ip) {
        return ip.isLoopbackAddress() || ip.isAnyLocalAddress() || nodeAddresses.contains(ip);
    }

    private Route viaService(WorkloadIndex index, Workload source, Service service, String host, InetAddress vip,
            int port) {
        boolean ipv6 = prefersIpv6(source, vip);
        if (service.hasWaypoint() && !isWaypointOf(index, source, service.getWaypoint())) {
            InetAddress authIp = vip != null ? vip : firstVip(service);
            String authority = authIp != null ? IpLiteral.hostPort(authIp, port) : host + ":" + port;
            return viaWaypoint(index, source, service.getWaypoint(), authority, service, port, ipv6);
        }
        InetAddress original = vip != null ? vip : firstVip(service);
        if (service.getLoadBalancing().getMode() == LoadBalancing.Mode.PASSTHROUGH && original != null) {
            // no endpoint selection (istiod's form of a ServiceEntry with resolution NONE): the original destination,
            // whatever endpoints the service has, as Istio's ztunnel does; like its passthrough, with no destination
            // service (Istio's request has no intended_destination_service: its series say "unknown")
            return new Route.Passthrough(new InetSocketAddress(original, port), null, null);
        }
        ServiceEndpoints.Choice choice = index.serviceEndpoints(service).choose(source, port, random.get());
        if (choice instanceof ServiceEndpoints.Endpoint ep) {
            if (!onOurNetwork(ep.workload())) {
                Set<SpiffeId> expected = new HashSet<>();
                expected.add(Workloads.identity(ep.workload(), config.node().trustDomain()));
                addSans(expected, service);
                return acrossNetworks(index, source, "endpoint", ep.workload(), expected, service, port, ipv6);
            }
            if (ep.workload().getAddressesCount() == 0) {
                // known by hostname only (ServiceEndpoints admits no endpoint with neither): the proxy resolves it
                return new Route.Resolve(ep.workload().getHostname(), ep.targetPort(), ipv6, ep.workload(), service);
            }
            InetAddress ip = dialAddress(ep.workload(), ipv6, service.getIpFamilies());
            if (ip == null) {
                return new Route.Reject(NO_VALID_DESTINATION, "endpoint " + ep.workload().getNamespace() + "/"
                        + ep.workload().getName() + " of " + service.getHostname() + " has no address in the"
                        + " service's families (" + service.getIpFamilies() + "): " + addresses(ep.workload()));
            }
            return direct(ep.workload(), ip, ep.targetPort(), service);
        }
        ServiceEndpoints.NoEndpoint none = (ServiceEndpoints.NoEndpoint) choice;
        return new Route.Reject(none.reason(), none.detail());
    }

    /**
     * Where a {@link Route.Resolve} goes once its hostname resolved to {@code addresses}, as Istio's ztunnel picks:
     * one at random among the addresses of the original destination's family, else among the others; then as an
     * endpoint at that address (plain TCP, or HBONE to its 15008 with authority {@code ip:port}). None: refused with
     * {@value #NO_RESOLVED_ADDRESSES}.
     */
    public Route resolved(Route.Resolve r, List<InetAddress> addresses) {
        int sameFamily = 0;
        for (InetAddress a : addresses) {
            if ((a instanceof Inet6Address) == r.ipv6()) {
                sameFamily++;
            }
        }
        int candidates = sameFamily > 0 ? sameFamily : addresses.size();
        if (candidates == 0) {
            return unresolved(r, "resolved to no address");
        }
        int k = candidates == 1 ? 0 : random.get().nextInt(candidates);
        for (InetAddress a : addresses) {
            if ((sameFamily == 0 || (a instanceof Inet6Address) == r.ipv6()) && k-- == 0) {
                return direct(r.destination(), a, r.port(), r.service());
            }
        }
        throw new IllegalStateException("unreachable: " + k);
    }

    /** A {@link Route.Resolve} whose hostname did not resolve ({@code why}: the resolver's words). */
    public static Route.Reject unresolved(Route.Resolve r, String why) {
        Workload w = r.destination();
        return new Route.Reject(NO_RESOLVED_ADDRESSES, "endpoint " + w.getUid() + " of "
                + r.service().getHostname() + ": hostname '" + r.hostname() + "' " + why);
    }

    /**
     * Where to dial a workload with several addresses (dual stack), as Istio's ztunnel picks it: among its addresses
     * in the service's IP families ({@code AUTOMATIC} or {@code DUAL}: any), the first of the original destination's
     * family, else the first; null when none is in those families.
     */
    static InetAddress dialAddress(Workload w, boolean ipv6, IPFamilies families) {
        InetAddress fallback = null;
        for (int i = 0; i < w.getAddressesCount(); i++) {
            InetAddress a = ip(w.getAddresses(i).toByteArray());
            boolean v6 = a instanceof Inet6Address;
            if ((families == IPFamilies.IPV4_ONLY && v6) || (families == IPFamilies.IPV6_ONLY && !v6)) {
                continue;
            }
            if (v6 == ipv6) {
                return a;
            }
            if (fallback == null) {
                fallback = a;
            }
        }
        return fallback;
    }

    private static List<String> addresses(Workload w) {
        List<String> out = new java.util.ArrayList<>(w.getAddressesCount());
        for (int i = 0; i < w.getAddressesCount(); i++) {
            out.add(ip(w.getAddresses(i).toByteArray()).getHostAddress());
        }
        return out;
    }

    /** The original destination's family: the VIP's, else (a service named by hostname) the source's. */
    private static boolean prefersIpv6(Workload source, InetAddress vip) {
        if (vip != null) {
            return vip instanceof Inet6Address;
        }
        return source != null && WorkloadIndex.firstIp(source) instanceof Inet6Address;
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
        return new Route.Hbone(hboneAddress(w, ip), IpLiteral.hostPort(ip, port), expected, w, service);
    }

    private boolean onOurNetwork(Workload w) {
        return w.getNetwork().equals(config.node().network());
    }

    /**
     * A service's next hop on another network (an endpoint, or the service's waypoint): double HBONE through the
     * east-west gateway that workload names, with the service's hostname and port as the authority of both tunnels
     * (the gateway picks the next hop by it, and for a service with a waypoint that is the waypoint).
     *
     * @param expected the identities the next hop may prove in the inner handshake
     */
    private Route acrossNetworks(WorkloadIndex index, Workload source, String hop, Workload endpoint,
            Set<SpiffeId> expected, Service service, int port, boolean ipv6) {
        if (!endpoint.hasNetworkGateway()) {
            return new Route.Reject("no_network_gateway", where(hop, endpoint, service) + ", not '"
                    + config.node().network() + "', and names no network gateway (expected: its network_gateway)");
        }
        GatewayAddress gw = endpoint.getNetworkGateway();
        // a gateway named by address is dialled at that address (Istio), one named by hostname in our family
        boolean gwIpv6 = gw.hasAddress() ? gw.getAddress().getAddress().size() == 16 : ipv6;
        Route.Hbone outer = viaGateway(index, source, gw, service.getHostname() + ":" + port, service, gwIpv6);
        if (outer == null) {
            return new Route.Reject("no_network_gateway", where(hop, endpoint, service) + ": network gateway "
                    + describe(gw) + " has no healthy workload");
        }
        return new Route.DoubleHbone(outer, expected, endpoint, service);
    }

    /** "endpoint ns/name of host is on network 'n'" (or waypoint), for a refusal. */
    private static String where(String hop, Workload w, Service service) {
        return hop + " " + w.getNamespace() + "/" + w.getName() + " of " + service.getHostname() + " is on network '"
                + w.getNetwork() + "'";
    }

    /**
     * HBONE to a waypoint. A service's waypoint on another network is reached as its endpoints would be, by double
     * HBONE through that network's gateway (Istio: cross-network traffic is service-addressed); a pod address's
     * waypoint on another network cannot be.
     */
    private Route viaWaypoint(WorkloadIndex index, Workload source, GatewayAddress gw, String authority,
            Service service, int port, boolean ipv6) {
        Route.Hbone h = viaGateway(index, source, gw, authority, service, ipv6);
        if (h == null) {
            return new Route.Reject("no_waypoint", "waypoint " + describe(gw) + " has no healthy workload");
        }
        if (onOurNetwork(h.destination())) {
            return h;
        }
        if (service == null) {
            return new Route.Reject("cross_network_waypoint", "waypoint " + describe(gw) + " of " + authority
                    + " is on network '" + h.destination().getNetwork() + "', not '" + config.node().network()
                    + "' (another network is reached by service, never by pod address)");
        }
        return acrossNetworks(index, source, "waypoint", h.destination(), h.expected(), service, port, ipv6);
    }

    /**
     * HBONE to a gateway (a waypoint, or a network's east-west gateway) that a {@link GatewayAddress} names; null
     * when it has no healthy workload. A dual-stack gateway is dialled in the {@code ipv6} family when it has an
     * address there.
     */
    private Route.Hbone viaGateway(WorkloadIndex index, Workload source, GatewayAddress gw, String authority,
            Service service, boolean ipv6) {
        int hbonePort = gw.getHboneMtlsPort() == 0 ? 15008 : gw.getHboneMtlsPort();
        Workload gateway = null;
        Service gatewayService = null;
        if (gw.hasAddress()) {
            // on the network the address names (an east-west gateway's is another one), else on ours
            InetAddress ip = ip(gw.getAddress().getAddress().toByteArray());
            String network = gw.getAddress().getNetwork().isEmpty() ? index.network() : gw.getAddress().getNetwork();
            gateway = index.workloadAt(network, ip);
            gatewayService = index.serviceAt(network, ip);
            if (gateway == null && gatewayService != null) {
                gateway = index.serviceEndpoints(gatewayService).chooseAny(source, random.get());
            }
        } else if (gw.hasHostname()) {
            gatewayService = index.serviceByName(gw.getHostname().getNamespace() + "/" + gw.getHostname().getHostname());
            if (gatewayService != null) {
                gateway = index.serviceEndpoints(gatewayService).chooseAny(source, random.get());
            }
        }
        if (gateway == null) {
            return null;
        }
        Set<SpiffeId> expected = new HashSet<>();
        expected.add(Workloads.identity(gateway, config.node().trustDomain()));
        if (gatewayService != null) {
            addSans(expected, gatewayService);
        }
        InetAddress wip = dialAddress(gateway, ipv6, IPFamilies.AUTOMATIC);
        return new Route.Hbone(new InetSocketAddress(wip, hbonePort), authority, expected, gateway, service);
    }

    private static String describe(GatewayAddress gw) {
        if (gw.hasHostname()) {
            return gw.getHostname().getNamespace() + "/" + gw.getHostname().getHostname();
        }
        return gw.hasAddress() ? ip(gw.getAddress().getAddress().toByteArray()).getHostAddress() : "(no address)";
    }

    /** The caller is the waypoint itself (its traffic must not loop back to it). */
    private static boolean isWaypointOf(WorkloadIndex index, Workload source, GatewayAddress gw) {
        if (source == null || source.getAddressesCount() == 0) {
            return false;
        }
        InetAddress src = WorkloadIndex.firstIp(source);
        if (gw.hasAddress()) {
            // the waypoint's pod address, or (istiod's usual form) its service's VIP
            InetAddress at = ip(gw.getAddress().getAddress().toByteArray());
            Service s = src.equals(at) ? null : index.serviceByVip(at);
            return src.equals(at) || (s != null && index.endpoints(s).contains(source));
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

    private static void addSans(Set<SpiffeId> out, Service s) {
        for (String san : s.getSubjectAltNamesList()) {
            SpiffeId id = SpiffeId.tryParse(san);
            if (id != null) {
                out.add(id);
            }
        }
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

}
