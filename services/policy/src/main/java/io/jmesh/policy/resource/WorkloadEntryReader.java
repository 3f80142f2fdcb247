package io.jmesh.policy.resource;

import io.jmesh.policy.translate.WorkloadLocality;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import java.util.Map;

/**
 * {@code WorkloadEntry} spec: Istio's fields (address, ports, labels, network, locality, weight, serviceAccount)
 * plus jmesh's {@code node} (the node whose ztunnel serves it) and {@code health}. Without {@code locality}, the
 * topology labels ({@link WorkloadLocality}) say where it runs.
 */
final class WorkloadEntryReader {

    private WorkloadEntryReader() {}

    static WorkloadEntrySpec read(Obj spec) {
        return read(spec, false, false);
    }

    /**
     * An endpoint of a ServiceEntry ({@code spec.endpoints[i]}): Istio's WorkloadEntry fields only, its address a DNS
     * name where the entry's resolution is DNS ({@code hostnameAllowed}).
     */
    static WorkloadEntrySpec readEndpoint(Obj spec, boolean hostnameAllowed) {
        return read(spec, true, hostnameAllowed);
    }

    private static WorkloadEntrySpec read(Obj spec, boolean endpoint, boolean hostnameAllowed) {
        Problems p = spec.problems();
        WorkloadEntrySpec.Builder b = WorkloadEntrySpec.newBuilder();
        String address = spec.requiredString("address");
        if (address != null) {
            if (address.startsWith("unix://")) {
                p.error(spec.at("address"), "'" + address + "': Unix domain socket endpoints are not supported"
                        + " (ztunnel proxies TCP)");
            } else if (Names.ipOrNull(address) != null) {
                b.setAddress(address);
            } else if (!hostnameAllowed) {
                p.error(spec.at("address"), "'" + address + "' is not an IP address" + (endpoint
                        ? " (a DNS name needs resolution DNS or DNS_ROUND_ROBIN)" : ""));
            } else if (Names.dnsSubdomain(address, spec.at("address"), p)) {
                b.setAddress(address);
            }
        }
        for (Obj.Entry e : spec.entries("ports")) {
            Names.portName(e.key(), e.path(), p);
            Long port = Obj.integer(e.node(), e.path(), 1, 65535, p);
            if (port != null) {
                b.putPorts(e.key(), port.intValue());
            }
        }
        Map<String, String> labels = spec.stringMap("labels");
        Names.labels(labels, spec.at("labels"), p);
        b.putAllLabels(labels);
        String network = spec.string("network");
        if (network != null) {
            b.setNetwork(network);
        }
        String locality = spec.string("locality");
        if (locality != null) {
            if (locality.split("/", -1).length > 3) {
                p.error(spec.at("locality"), "'" + locality + "' has more than 3 parts (expected:"
                        + " region/zone/subzone)");
            }
            b.setLocality(locality);
        }
        String fromLabels = WorkloadLocality.fromLabels(labels);
        if (locality != null && !locality.isEmpty() && fromLabels != null
                && !WorkloadLocality.normalize(locality).equals(fromLabels)) {
            p.warn("spec.labels topology (" + fromLabels + ") is ignored: spec.locality '" + locality
                    + "' takes precedence");
        }
        Long weight = spec.integer("weight", 0, 0xFFFF_FFFFL);
        if (weight != null) {
            b.setWeight(weight.intValue());
        }
        String sa = spec.string("serviceAccount");
        if (sa != null && !sa.isEmpty() && Names.dnsSubdomain(sa, spec.at("serviceAccount"), p)) {
            b.setServiceAccount(sa);
        }
        if (spec.has("priority")) {
            p.error(spec.at("priority"), "not supported");
        }
        if (endpoint) {
            spec.finish(); // node and health are jmesh's WorkloadEntry fields: unknown here
            return b.build();
        }
        String node = spec.string("node");
        if (node != null && !node.isEmpty() && Names.dnsSubdomain(node, spec.at("node"), p)) {
            b.setNode(node);
        }
        String health = spec.string("health");
        if (health != null) {
            switch (health) {
                case "HEALTHY" -> b.setHealth(WorkloadEntrySpec.Health.HEALTHY);
                case "UNHEALTHY" -> b.setHealth(WorkloadEntrySpec.Health.UNHEALTHY);
                default -> p.error(spec.at("health"), "'" + health + "' (expected: HEALTHY or UNHEALTHY)");
            }
        }
        spec.finish();
        return b.build();
    }
}
