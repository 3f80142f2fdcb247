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
        Problems p = spec.problems();
        WorkloadEntrySpec.Builder b = WorkloadEntrySpec.newBuilder();
        String address = spec.requiredString("address");
        if (address != null && Names.ip(address, spec.at("address"), p) != null) {
            b.setAddress(address);
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
        if (spec.has("priority")) {
            p.error(spec.at("priority"), "not supported");
        }
        spec.finish();
        return b.build();
    }
}
