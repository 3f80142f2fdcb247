package io.jmesh.policy.resource;

import io.jmesh.policy.translate.LoadBalancingTranslator;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.ServicePort;
import io.jmesh.proto.config.v1.ServiceSpec;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Kubernetes {@code Service} spec: selector, ports (with target ports), cluster IPs, type, and what steers endpoint
 * choice ({@code trafficDistribution}, {@code internalTrafficPolicy}, {@code publishNotReadyAddresses}, Istio's
 * traffic-distribution annotation).
 */
final class ServiceReader {

    /** Fields a Service read back from a cluster carries that do not change how the mesh routes. */
    private static final List<String> IGNORED = List.of("sessionAffinity", "sessionAffinityConfig", "ipFamilies",
            "ipFamilyPolicy", "externalTrafficPolicy", "allocateLoadBalancerNodePorts", "healthCheckNodePort",
            "loadBalancerClass", "loadBalancerIP", "loadBalancerSourceRanges", "externalIPs");

    private ServiceReader() {}

    static ServiceSpec read(Obj spec, ObjectMeta meta) {
        Problems p = spec.problems();
        ServiceSpec.Builder b = ServiceSpec.newBuilder();
        Map<String, String> selector = spec.stringMap("selector");
        Names.labels(selector, spec.at("selector"), p);
        b.putAllSelector(selector);

        List<Obj.Item> ports = spec.list("ports");
        Set<String> names = new HashSet<>();
        Set<String> numbers = new HashSet<>();
        for (Obj.Item item : ports) {
            Obj port = item.obj(p);
            if (port == null) {
                continue;
            }
            ServicePort.Builder pb = ServicePort.newBuilder();
            String name = port.string("name");
            if (name == null || name.isEmpty()) {
                if (ports.size() > 1) {
                    p.error(port.at("name"), "required when a service has more than one port");
                }
            } else if (Names.portName(name, port.at("name"), p)) {
                if (!names.add(name)) {
                    p.error(port.at("name"), "duplicate port name '" + name + "'");
                }
                pb.setName(name);
            }
            Long number = port.integer("port", 1, 65535);
            if (number == null && !port.has("port")) {
                p.error(port.at("port"), "required");
            }
            String protocol = port.string("protocol");
            protocol = protocol == null ? "TCP" : protocol;
            if (!Set.of("TCP", "UDP", "SCTP").contains(protocol)) {
                p.error(port.at("protocol"), "'" + protocol + "' (expected: TCP, UDP or SCTP)");
            }
            pb.setProtocol(protocol);
            if (number != null) {
                pb.setPort(number.intValue());
                if (!numbers.add(protocol + "/" + number)) {
                    p.error(port.at("port"), "duplicate port " + number + "/" + protocol);
                }
            }
            com.fasterxml.jackson.databind.JsonNode target = port.raw("targetPort");
            if (target != null) {
                if (target.isTextual() && !target.asText().matches("[0-9]+")) {
                    if (Names.portName(target.asText(), port.at("targetPort"), p)) {
                        pb.setTargetPortName(target.asText());
                    }
                } else {
                    Long t = Obj.integer(target, port.at("targetPort"), 1, 65535, p);
                    if (t != null) {
                        pb.setTargetPortNumber(t.intValue());
                    }
                }
            }
            String appProtocol = port.string("appProtocol");
            if (appProtocol != null) {
                pb.setAppProtocol(appProtocol);
            }
            port.ignore("nodePort");
            port.finish();
            b.addPorts(pb);
        }

        String type = spec.string("type");
        type = type == null ? "ClusterIP" : type;
        if (!Set.of("ClusterIP", "NodePort", "LoadBalancer").contains(type)) {
            p.error(spec.at("type"), "'" + type + "' (expected: ClusterIP, NodePort or LoadBalancer)");
        }
        b.setType(type);

        String clusterIp = spec.string("clusterIP");
        List<String> clusterIps = spec.strings("clusterIPs");
        if (clusterIp != null && !clusterIp.isEmpty() && !clusterIps.isEmpty() && !clusterIps.get(0).equals(clusterIp)) {
            p.error(spec.at("clusterIPs") + "[0]", "must equal clusterIP '" + clusterIp + "'");
        }
        if (clusterIps.isEmpty() && clusterIp != null && !clusterIp.isEmpty()) {
            clusterIps = List.of(clusterIp);
        }
        boolean headless = clusterIps.size() == 1 && "None".equals(clusterIps.get(0));
        if (!headless) {
            for (int i = 0; i < clusterIps.size(); i++) {
                if (Names.ip(clusterIps.get(i), spec.at("clusterIPs") + "[" + i + "]", p) != null) {
                    b.addClusterIps(clusterIps.get(i));
                }
            }
        }
        String hostname = spec.string("hostname");
        if (hostname != null && !hostname.isEmpty()) {
            Names.dnsSubdomain(hostname, spec.at("hostname"), p);
            b.setHostname(hostname);
        }
        String distribution = spec.string("trafficDistribution");
        if (distribution != null && !distribution.isEmpty()) {
            if (LoadBalancingTranslator.fromField(distribution) == null) {
                p.error(spec.at("trafficDistribution"), "'" + distribution + "' (expected: "
                        + LoadBalancingTranslator.EXPECTED + ")");
            } else {
                b.setTrafficDistribution(distribution);
            }
        }
        String internal = spec.string("internalTrafficPolicy");
        if (internal != null && !internal.isEmpty()) {
            if (!Set.of("Cluster", "Local").contains(internal)) {
                p.error(spec.at("internalTrafficPolicy"), "'" + internal + "' (expected: Cluster or Local)");
            } else {
                b.setInternalTrafficPolicy(internal);
            }
        }
        Boolean notReady = spec.bool("publishNotReadyAddresses");
        if (notReady != null) {
            b.setPublishNotReadyAddresses(notReady);
        }
        trafficDistributionAnnotation(meta, p);
        IGNORED.forEach(spec::ignore);
        spec.finish();
        ServiceSpec built = b.build();
        if (!p.hasErrors()) {
            LoadBalancingTranslator.warnings(built, meta.getAnnotationsMap()).forEach(p::warn);
        }
        return built;
    }

    /**
     * Checks Istio's {@value LoadBalancingTranslator#ANNOTATION} annotation (on a Service or a Namespace): istiod
     * ignores a value it does not know with a log line; here it is an error, so a typo never silently does
     * nothing.
     */
    static void trafficDistributionAnnotation(ObjectMeta meta, Problems p) {
        String value = meta.getAnnotationsMap().get(LoadBalancingTranslator.ANNOTATION);
        if (value != null && LoadBalancingTranslator.fromAnnotation(value) == null) {
            p.error("metadata.annotations." + LoadBalancingTranslator.ANNOTATION, "'" + value + "' (expected: "
                    + LoadBalancingTranslator.EXPECTED + ", in any case)");
        }
    }
}
