package io.jmesh.ztunnel.admin;

import com.google.protobuf.ByteString;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.ServiceAccountMatch;
import io.jmesh.proto.istio.security.StringMatch;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Workloads, services and policies in the JSON shape of Istio's ztunnel dump, which {@code istioctl ztunnel-config}
 * decodes into fixed types (the xDS resources' own JSON would not decode: a service's {@code ports} is a list there
 * and a map here, a policy's {@code rules} nested objects there and nested lists here). Field names are camelCase,
 * enums in Istio's spelling ({@code HBONE}/{@code TCP}, {@code Healthy}, {@code Allow}), addresses as text
 * ({@code network/ip} for a VIP or a gateway), a gateway's destination one string ({@code network/ip} or
 * {@code namespace/hostname}).
 */
final class IstioDump {

    private IstioDump() {}

    static JsonObject workload(Workload w) {
        JsonArray ips = new JsonArray();
        w.getAddressesList().forEach(a -> ips.add(ip(a)));
        JsonObject o = new JsonObject().put("uid", w.getUid()).put("workloadIps", ips)
                .put("protocol", w.getTunnelProtocol() == TunnelProtocol.HBONE ? "HBONE" : "TCP")
                .put("networkMode", w.getNetworkMode() == NetworkMode.HOST_NETWORK ? "HostNetwork" : "Standard")
                .put("name", w.getName()).put("namespace", w.getNamespace())
                .put("trustDomain", w.getTrustDomain().isEmpty() ? "cluster.local" : w.getTrustDomain())
                .put("serviceAccount", w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount())
                .put("network", w.getNetwork()).put("workloadName", w.getWorkloadName())
                .put("workloadType", w.getWorkloadType().name().toLowerCase(Locale.ROOT))
                .put("canonicalName", w.getCanonicalName()).put("canonicalRevision", w.getCanonicalRevision())
                .put("hostname", w.getHostname()).put("node", w.getNode())
                .put("status", w.getStatus() == WorkloadStatus.UNHEALTHY ? "Unhealthy" : "Healthy")
                .put("clusterId", w.getClusterId().isEmpty() ? "Kubernetes" : w.getClusterId())
                .put("capacity", w.hasCapacity() ? w.getCapacity().getValue() : 1);
        if (w.hasWaypoint()) {
            o.put("waypoint", gateway(w.getWaypoint()));
        }
        if (w.hasNetworkGateway()) {
            o.put("networkGateway", gateway(w.getNetworkGateway()));
        }
        if (w.getNativeTunnel()) {
            o.put("nativeTunnel", true);
        }
        if (w.hasApplicationTunnel()) {
            JsonObject t = new JsonObject().put("protocol", w.getApplicationTunnel().getProtocol().name());
            if (w.getApplicationTunnel().getPort() != 0) {
                t.put("port", w.getApplicationTunnel().getPort());
            }
            o.put("applicationTunnel", t);
        }
        if (w.getAuthorizationPoliciesCount() > 0) {
            o.put("authorizationPolicies", new JsonArray(List.copyOf(w.getAuthorizationPoliciesList())));
        }
        if (w.hasLocality()) {
            o.put("locality", new JsonObject().put("region", w.getLocality().getRegion())
                    .put("zone", w.getLocality().getZone()).put("subzone", w.getLocality().getSubzone()));
        }
        if (w.getServicesCount() > 0) {
            o.put("services", new JsonArray(w.getServicesMap().keySet().stream().sorted().toList()));
        }
        return o;
    }

    /** @param endpoints the service's endpoints, by workload uid ({@link #endpoint}) */
    static JsonObject service(Service s, JsonObject endpoints) {
        JsonArray vips = new JsonArray();
        s.getAddressesList().forEach(a -> vips.add(a.getNetwork() + "/" + ip(a.getAddress())));
        JsonObject ports = new JsonObject();
        s.getPortsList().forEach(p -> ports.put(Integer.toString(p.getServicePort()), p.getTargetPort()));
        JsonObject o = new JsonObject().put("name", s.getName()).put("namespace", s.getNamespace())
                .put("hostname", s.getHostname()).put("vips", vips).put("ports", ports).put("endpoints", endpoints)
                .put("subjectAltNames", new JsonArray(List.copyOf(s.getSubjectAltNamesList())))
                .put("canonical", s.getCanonical());
        if (s.hasWaypoint()) {
            o.put("waypoint", gateway(s.getWaypoint()));
        }
        if (s.hasLoadBalancing()) {
            LoadBalancing lb = s.getLoadBalancing();
            JsonArray preferences = new JsonArray();
            lb.getRoutingPreferenceList().forEach(p -> preferences.add(capitalized(p.name())));
            o.put("loadBalancer", new JsonObject().put("routingPreferences", preferences)
                    .put("mode", switch (lb.getMode()) {
                        case STRICT -> "Strict";
                        case FAILOVER -> "Failover";
                        case PASSTHROUGH -> "Passthrough";
                        default -> "Standard";
                    })
                    .put("healthPolicy", lb.getHealthPolicy() == LoadBalancing.HealthPolicy.ALLOW_ALL ? "AllowAll"
                            : "OnlyHealthy"));
        }
        switch (s.getIpFamilies()) {
            case IPV4_ONLY -> o.put("ipFamilies", "IPv4");
            case IPV6_ONLY -> o.put("ipFamilies", "IPv6");
            case DUAL -> o.put("ipFamilies", "Dual");
            default -> { }
        }
        return o;
    }

    /** One workload as an endpoint of a service: its uid, the service's ports on it, its health. */
    static JsonObject endpoint(Workload w, PortList ports) {
        JsonObject port = new JsonObject();
        ports.getPortsList().forEach(p -> port.put(Integer.toString(p.getServicePort()), p.getTargetPort()));
        return new JsonObject().put("workloadUid", w.getUid()).put("port", port)
                .put("status", w.getStatus() == WorkloadStatus.UNHEALTHY ? "Unhealthy" : "Healthy");
    }

    /** A policy: {@code rules} as rules of clauses of matches (lists, as Istio's dump nests them). */
    static JsonObject policy(Authorization a) {
        JsonArray rules = new JsonArray();
        a.getRulesList().forEach(r -> {
            JsonArray clauses = new JsonArray();
            r.getClausesList().forEach(c -> {
                JsonArray matches = new JsonArray();
                c.getMatchesList().forEach(m -> matches.add(match(m)));
                clauses.add(matches);
            });
            rules.add(clauses);
        });
        return new JsonObject().put("name", a.getName()).put("namespace", a.getNamespace())
                .put("scope", capitalized(a.getScope().name()))
                .put("action", capitalized(a.getAction().name())).put("rules", rules).put("dryRun", a.getDryRun());
    }

    private static JsonObject match(Match m) {
        JsonObject o = new JsonObject();
        strings(o, "namespaces", m.getNamespacesList());
        strings(o, "notNamespaces", m.getNotNamespacesList());
        strings(o, "principals", m.getPrincipalsList());
        strings(o, "notPrincipals", m.getNotPrincipalsList());
        cidrs(o, "sourceIps", m.getSourceIpsList());
        cidrs(o, "notSourceIps", m.getNotSourceIpsList());
        cidrs(o, "destinationIps", m.getDestinationIpsList());
        cidrs(o, "notDestinationIps", m.getNotDestinationIpsList());
        if (m.getDestinationPortsCount() > 0) {
            o.put("destinationPorts", new JsonArray(List.copyOf(m.getDestinationPortsList())));
        }
        if (m.getNotDestinationPortsCount() > 0) {
            o.put("notDestinationPorts", new JsonArray(List.copyOf(m.getNotDestinationPortsList())));
        }
        accounts(o, "serviceAccounts", m.getServiceAccountsList());
        accounts(o, "notServiceAccounts", m.getNotServiceAccountsList());
        return o;
    }

    private static void strings(JsonObject o, String key, List<StringMatch> matches) {
        if (matches.isEmpty()) {
            return;
        }
        JsonArray out = new JsonArray();
        for (StringMatch s : matches) {
            out.add(switch (s.getMatchTypeCase()) {
                case EXACT -> new JsonObject().put("Exact", s.getExact());
                case PREFIX -> new JsonObject().put("Prefix", s.getPrefix());
                case SUFFIX -> new JsonObject().put("Suffix", s.getSuffix());
                default -> new JsonObject().put("Presence", new JsonObject());
            });
        }
        o.put(key, out);
    }

    private static void cidrs(JsonObject o, String key, List<io.jmesh.proto.istio.security.Address> addresses) {
        if (!addresses.isEmpty()) {
            JsonArray out = new JsonArray();
            addresses.forEach(a -> out.add(ip(a.getAddress()) + "/" + a.getLength()));
            o.put(key, out);
        }
    }

    private static void accounts(JsonObject o, String key, List<ServiceAccountMatch> accounts) {
        if (!accounts.isEmpty()) {
            JsonArray out = new JsonArray();
            accounts.forEach(a -> out.add(new JsonObject().put("namespace", a.getNamespace())
                    .put("serviceAccount", a.getServiceAccount())));
            o.put(key, out);
        }
    }

    /** A gateway reference: {@code destination} is {@code network/ip} or {@code namespace/hostname}. */
    private static JsonObject gateway(GatewayAddress g) {
        String destination = g.hasAddress() ? g.getAddress().getNetwork() + "/" + ip(g.getAddress().getAddress())
                : g.getHostname().getNamespace() + "/" + g.getHostname().getHostname();
        return new JsonObject().put("destination", destination).put("hboneMtlsPort", g.getHboneMtlsPort());
    }

    /** {@code WORKLOAD_SELECTOR} → {@code WorkloadSelector}, as Rust's enums print. */
    private static String capitalized(String constant) {
        StringBuilder out = new StringBuilder();
        for (String part : constant.toLowerCase(Locale.ROOT).split("_")) {
            if (!part.isEmpty()) {
                out.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
            }
        }
        return out.toString();
    }

    static String ip(ByteString bytes) {
        try {
            return java.net.InetAddress.getByAddress(bytes.toByteArray()).getHostAddress();
        } catch (java.net.UnknownHostException e) {
            return "invalid:" + bytes.size() + "-bytes";
        }
    }

    /** Endpoints of every service in {@code workloads}, by service name ({@code namespace/hostname}), then uid. */
    static Map<String, JsonObject> endpoints(Iterable<Workload> workloads) {
        Map<String, JsonObject> out = new java.util.HashMap<>();
        for (Workload w : workloads) {
            w.getServicesMap().forEach((service, ports) -> out.computeIfAbsent(service, s -> new JsonObject())
                    .put(w.getUid(), endpoint(w, ports)));
        }
        return out;
    }
}
