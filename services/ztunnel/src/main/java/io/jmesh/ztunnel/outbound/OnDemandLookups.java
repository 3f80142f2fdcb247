package io.jmesh.ztunnel.outbound;

import io.jmesh.core.net.IpLiteral;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.vertx.core.Future;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * On-demand discovery for the outbound path: before the (synchronous) router decides on a snapshot, asks policy for
 * what it would need and the snapshot lacks. That is the destination (a VIP or pod address as {@code network/IP} on
 * this node's network; a service hostname of the form {@code <name>.<namespace>.svc.<domain>} as
 * {@code namespace/hostname}, any other hostname cannot be placed in a namespace and is not asked for), then what the
 * destination refers to: a service's or workload's {@code waypoint}, and the {@code network_gateway} of a service
 * endpoint (or waypoint) on another network, each a {@link GatewayAddress} naming an address ({@code network/IP}, its
 * own network or this node's) or a service ({@code namespace/hostname}).
 *
 * <p>Bounded: the destination, then at most {@value #MAX_REFERENCE_ROUNDS} rounds of references (a service's
 * waypoint, then that waypoint's network gateway when it is on another network), each round asking everything it
 * lacks at once, and nothing asked twice. An alias policy already answered is not waited for. Whatever stays
 * unknown (not found, or no answer in time) is routed as unknown, as without on-demand discovery.
 */
final class OnDemandLookups {

    /** Rounds of references after the destination itself. */
    static final int MAX_REFERENCE_ROUNDS = 2;

    private final WorkloadStore store;

    OnDemandLookups(WorkloadStore store) {
        this.store = store;
    }

    /**
     * Null when {@code index} holds everything routing {@code host} needs (route now); else a future that completes
     * (never fails) once policy answered, or gave up on, what was missing, in as many rounds as it takes.
     */
    Future<Void> prepare(WorkloadIndex index, String host) {
        Set<String> missing = missing(index, host);
        if (missing.isEmpty()) {
            return null;
        }
        Set<String> asked = new HashSet<>(missing);
        return ask(missing).compose(v -> more(host, asked, 0));
    }

    private Future<Void> more(String host, Set<String> asked, int round) {
        if (round >= MAX_REFERENCE_ROUNDS) {
            return Future.succeededFuture();
        }
        Set<String> missing = missing(store.current(), host);
        missing.removeAll(asked);
        if (missing.isEmpty()) {
            return Future.succeededFuture();
        }
        asked.addAll(missing);
        return ask(missing).compose(v -> more(host, asked, round + 1));
    }

    /** Asks for every alias at once; completes when each is answered or given up on (a timeout is not an error). */
    private Future<Void> ask(Set<String> aliases) {
        List<Future<Void>> answers = new ArrayList<>(aliases.size());
        for (String alias : aliases) {
            answers.add(store.demand(alias));
        }
        return Future.join(answers).transform(ar -> Future.succeededFuture());
    }

    /** The aliases of what routing {@code host} would look up in {@code index} and not find there. */
    Set<String> missing(WorkloadIndex index, String host) {
        Set<String> out = new LinkedHashSet<>();
        String network = index.network();
        InetAddress ip = IpLiteral.parse(host);
        if (ip != null) {
            Service s = index.serviceByVip(ip);
            if (s != null) {
                service(index, s, out, 0);
                return out;
            }
            Workload w = index.workloadByIp(ip);
            if (w == null) {
                out.add(XdsTypes.ipAlias(network, ip));
            } else if (w.hasWaypoint()) {
                gateway(index, w.getWaypoint(), out, 0);
            }
            return out;
        }
        Service s = index.serviceByHostname(host);
        if (s != null) {
            service(index, s, out, 0);
            return out;
        }
        String namespace = io.jmesh.ztunnel.discovery.Workloads.serviceNamespace(host);
        if (namespace != null) {
            out.add(XdsTypes.hostnameAlias(namespace, host));
        }
        return out;
    }

    /**
     * A service's waypoint and the network gateways of its endpoints on other networks (those are routed to when the
     * caller is the waypoint itself).
     */
    private void service(WorkloadIndex index, Service s, Set<String> out, int depth) {
        if (s.hasWaypoint()) {
            gateway(index, s.getWaypoint(), out, depth);
        }
        endpointGateways(index, s, out, depth);
    }

    private void endpointGateways(WorkloadIndex index, Service s, Set<String> out, int depth) {
        Set<GatewayAddress> seen = new HashSet<>();
        for (Workload ep : index.endpoints(s)) {
            if (!ep.getNetwork().equals(index.network()) && ep.hasNetworkGateway() && seen.add(ep.getNetworkGateway())) {
                gateway(index, ep.getNetworkGateway(), out, depth);
            }
        }
    }

    /** A waypoint or network gateway: asked for when unknown, else followed to its own network gateway. */
    private void gateway(WorkloadIndex index, GatewayAddress gw, Set<String> out, int depth) {
        if (depth >= MAX_REFERENCE_ROUNDS) {
            return;
        }
        if (gw.hasAddress()) {
            InetAddress ip = ip(gw.getAddress().getAddress().toByteArray());
            if (ip == null) {
                return;
            }
            String network = gw.getAddress().getNetwork().isEmpty() ? index.network() : gw.getAddress().getNetwork();
            Workload w = index.workloadAt(network, ip);
            Service s = index.serviceAt(network, ip);
            if (w == null && s == null) {
                out.add(XdsTypes.ipAlias(network, ip));
            } else if (w != null) {
                if (!w.getNetwork().equals(index.network()) && w.hasNetworkGateway()) {
                    gateway(index, w.getNetworkGateway(), out, depth + 1);
                }
            } else {
                endpointGateways(index, s, out, depth + 1);
            }
        } else if (gw.hasHostname()) {
            String ns = gw.getHostname().getNamespace();
            String hostname = gw.getHostname().getHostname();
            Service s = index.serviceByName(ns + "/" + hostname);
            if (s == null) {
                out.add(XdsTypes.hostnameAlias(ns, hostname));
            } else {
                endpointGateways(index, s, out, depth + 1);
            }
        }
    }

    private static InetAddress ip(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            return null; // validated on the way in
        }
    }
}
