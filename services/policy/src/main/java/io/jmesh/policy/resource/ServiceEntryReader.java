package io.jmesh.policy.resource;

import com.fasterxml.jackson.databind.JsonNode;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.ServiceEntryPort;
import io.jmesh.proto.config.v1.ServiceEntrySpec;
import io.jmesh.proto.config.v1.ServiceEntrySpec.Resolution;
import io.jmesh.proto.config.v1.WorkloadSelector;
import java.net.InetAddress;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Istio's {@code ServiceEntry} spec, with Istio's validation rules and what ambient mode cannot do refused up front
 * (istiod drops such an entry without a word): address ranges, Unix socket endpoints, {@code DYNAMIC_DNS}. The IPs
 * Istio's auto-allocation wrote into {@code status.addresses} are kept: they are the hosts' VIPs when the entry has
 * none of its own.
 */
final class ServiceEntryReader {

    /** Istio's port protocols (case-insensitive); anything else is refused, as istiod's validation does. */
    private static final Set<String> PROTOCOLS = Set.of("HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "HTTP_PROXY",
            "TCP", "TLS", "UDP", "MONGO", "MYSQL", "REDIS", "THRIFT");

    private ServiceEntryReader() {}

    static ServiceEntrySpec read(Obj spec, JsonNode status, ObjectMeta meta) {
        Problems p = spec.problems();
        ServiceEntrySpec.Builder b = ServiceEntrySpec.newBuilder();

        List<String> hosts = spec.strings("hosts");
        if (hosts.isEmpty()) {
            p.error(spec.at("hosts"), "at least one host is required");
        }
        Set<String> seenHosts = new HashSet<>();
        String wildcard = null; // the first wildcard host
        for (int i = 0; i < hosts.size(); i++) {
            String h = hosts.get(i);
            String at = spec.at("hosts") + "[" + i + "]";
            if (h.equals("*")) {
                p.error(at, "'*' matches every host (expected: a DNS name, or *.<domain>)");
                continue;
            }
            if (!seenHosts.add(h)) {
                p.error(at, "duplicate host '" + h + "'");
                continue;
            }
            boolean wild = h.startsWith("*.");
            if (Names.dnsSubdomain(wild ? h.substring(2) : h, at, p)) {
                wildcard = wild && wildcard == null ? h : wildcard;
                b.addHosts(h);
            }
        }

        List<String> addresses = spec.strings("addresses");
        for (int i = 0; i < addresses.size(); i++) {
            String a = addresses.get(i);
            String at = spec.at("addresses") + "[" + i + "]";
            if (!Names.cidr(a, at, p)) {
                continue;
            }
            int slash = a.indexOf('/');
            InetAddress ip = Names.ipOrNull(slash < 0 ? a : a.substring(0, slash));
            if (slash >= 0 && Integer.parseInt(a.substring(slash + 1)) != ip.getAddress().length * 8) {
                p.error(at, "'" + a + "' is a range: ambient mode routes single addresses only (istiod drops the"
                        + " whole entry)");
                continue;
            }
            b.addAddresses(ip.getHostAddress());
        }

        if (spec.list("ports").isEmpty()) {
            p.error(spec.at("ports"), "at least one port is required");
        }
        ports(spec, b, p);

        String resolution = spec.string("resolution");
        Resolution r = Resolution.NONE;
        if (resolution != null) {
            switch (resolution) {
                case "NONE" -> r = Resolution.NONE;
                case "STATIC" -> r = Resolution.STATIC;
                case "DNS" -> r = Resolution.DNS;
                case "DNS_ROUND_ROBIN" -> r = Resolution.DNS_ROUND_ROBIN;
                case "DYNAMIC_DNS" -> p.error(spec.at("resolution"), "DYNAMIC_DNS is not supported in ambient mode"
                        + " (expected: NONE, STATIC, DNS or DNS_ROUND_ROBIN)");
                default -> p.error(spec.at("resolution"), "'" + resolution + "' (expected: NONE, STATIC, DNS or"
                        + " DNS_ROUND_ROBIN)");
            }
        }
        b.setResolution(r);
        String location = spec.string("location");
        if (location != null) {
            switch (location) {
                case "MESH_EXTERNAL" -> b.setLocation(ServiceEntrySpec.Location.MESH_EXTERNAL);
                case "MESH_INTERNAL" -> b.setLocation(ServiceEntrySpec.Location.MESH_INTERNAL);
                default -> p.error(spec.at("location"), "'" + location + "' (expected: MESH_EXTERNAL or"
                        + " MESH_INTERNAL)");
            }
        }

        boolean dns = r == Resolution.DNS || r == Resolution.DNS_ROUND_ROBIN;
        List<Obj.Item> endpoints = spec.list("endpoints");
        Set<String> portNames = new HashSet<>();
        b.getPortsList().forEach(port -> portNames.add(port.getName()));
        for (Obj.Item item : endpoints) {
            Obj e = item.obj(p);
            if (e == null) {
                continue;
            }
            var endpoint = WorkloadEntryReader.readEndpoint(e, dns);
            for (String name : endpoint.getPortsMap().keySet()) {
                if (!portNames.contains(name)) {
                    p.error(e.at("ports") + "." + name, "the entry has no port named '" + name + "'");
                }
            }
            b.addEndpoints(endpoint);
        }
        Obj selector = spec.object("workloadSelector");
        if (selector != null) {
            Map<String, String> labels = selector.stringMap("labels");
            Names.labels(labels, selector.at("labels"), p);
            if (labels.isEmpty()) {
                p.error(selector.at("labels"), "required (an empty selector selects nothing)");
            }
            selector.finish();
            b.setWorkloadSelector(WorkloadSelector.newBuilder().putAllMatchLabels(labels));
            if (!endpoints.isEmpty()) {
                p.error(spec.at("workloadSelector"), "only one of workloadSelector and endpoints may be set");
            }
        }
        if (r == Resolution.NONE && !endpoints.isEmpty()) {
            p.error(spec.at("endpoints"), "no endpoints may be given with resolution NONE (connections go where"
                    + " the client addressed them)");
        }
        if (r == Resolution.DNS_ROUND_ROBIN && endpoints.size() > 1) {
            p.error(spec.at("endpoints"), "at most one endpoint with resolution DNS_ROUND_ROBIN");
        }
        if (dns && endpoints.isEmpty() && selector == null && wildcard != null) {
            p.error(spec.at("hosts"), "'" + wildcard + "': a wildcard host cannot be resolved (resolution DNS"
                    + " without endpoints needs DNS names)");
        }
        if (r == Resolution.STATIC && endpoints.isEmpty() && selector == null) {
            p.warn("spec: resolution STATIC without endpoints or workloadSelector: the entry's services have no"
                    + " endpoint and connections to them are refused");
        }

        List<String> exportTo = spec.strings("exportTo");
        b.addAllExportTo(exportTo);
        if (!exportTo.isEmpty()) {
            p.warn("spec.exportTo is not applied by ztunnel: in ambient mode every namespace sees the entry, as"
                    + " in Istio");
        }
        b.addAllSubjectAltNames(spec.strings("subjectAltNames"));
        ServiceReader.trafficDistributionAnnotation(meta, p);
        allocated(status, b, p);
        spec.finish();
        return b.build();
    }

    private static void ports(Obj spec, ServiceEntrySpec.Builder b, Problems p) {
        List<Obj.Item> ports = spec.list("ports");
        Set<String> names = new HashSet<>();
        Set<Long> numbers = new HashSet<>();
        for (Obj.Item item : ports) {
            Obj port = item.obj(p);
            if (port == null) {
                continue;
            }
            ServiceEntryPort.Builder pb = ServiceEntryPort.newBuilder();
            Long number = port.integer("number", 1, 65535);
            if (number == null && !port.has("number")) {
                p.error(port.at("number"), "required");
            } else if (number != null) {
                if (!numbers.add(number)) {
                    p.error(port.at("number"), "duplicate port " + number);
                }
                pb.setNumber(number.intValue());
            }
            String name = port.requiredString("name");
            if (name != null && Names.dnsLabel(name, port.at("name"), p)) {
                if (!names.add(name)) {
                    p.error(port.at("name"), "duplicate port name '" + name + "'");
                }
                pb.setName(name);
            }
            String protocol = port.string("protocol");
            if (protocol != null && !protocol.isEmpty()) {
                if (!PROTOCOLS.contains(protocol.toUpperCase(Locale.ROOT))) {
                    p.error(port.at("protocol"), "'" + protocol + "' is not an Istio protocol (expected one of "
                            + new java.util.TreeSet<>(PROTOCOLS) + ")");
                } else {
                    pb.setProtocol(protocol);
                }
            }
            Long target = port.integer("targetPort", 0, 65535);
            if (target != null) {
                pb.setTargetPort(target.intValue());
            }
            port.finish();
            b.addPorts(pb);
        }
    }

    /**
     * {@code status.addresses} of an entry read back from a cluster: {@code [{value, host}]} written by Istio's IP
     * auto-allocation. The server's, not the user's: what is unusable is left out with a warning.
     */
    private static void allocated(JsonNode status, ServiceEntrySpec.Builder b, Problems p) {
        JsonNode addresses = status == null ? null : status.get("addresses");
        if (addresses == null || !addresses.isArray()) {
            return;
        }
        for (int i = 0; i < addresses.size(); i++) {
            JsonNode a = addresses.get(i);
            String value = a.path("value").asText("");
            String host = a.path("host").asText("");
            InetAddress ip = Names.ipOrNull(value);
            if (ip == null || host.isEmpty()) {
                p.warn("status.addresses[" + i + "] is left out: value '" + value + "', host '" + host
                        + "' (expected: an IP value and a host)");
                continue;
            }
            b.addAllocatedAddresses(ServiceEntrySpec.AllocatedAddress.newBuilder().setHost(host)
                    .setValue(ip.getHostAddress()));
        }
    }
}
