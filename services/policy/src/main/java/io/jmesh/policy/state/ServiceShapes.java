package io.jmesh.policy.state;

import com.google.protobuf.ByteString;
import io.jmesh.core.net.IpLiteral;
import io.jmesh.policy.translate.LoadBalancingTranslator;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.AppProtocol;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NamespacedHostname;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * What the translations of Services, ServiceEntries and workloads share: a service's hostname, VIPs, waypoint and load
 * balancing, a workload's canonical name, ports' application protocols, IP literals.
 */
final class ServiceShapes {

    static final String USE_WAYPOINT = "istio.io/use-waypoint";
    static final String USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace";
    static final String MANAGED_GATEWAY = "gateway.istio.io/managed";
    static final String MESH_CONTROLLER = "istio.io-mesh-controller";
    /** On a workload with Istio's sidecar or a ServiceEntry: "http" says its endpoints accept HBONE. */
    static final String SIDECAR_TUNNEL = "networking.istio.io/tunnel";

    private final MeshSettings settings;

    ServiceShapes(MeshSettings settings) {
        this.settings = settings;
    }

    /** Istio's canonical service and revision: from the labels, else the workload's name and {@code latest}. */
    static void canonical(Workload.Builder w, Map<String, String> labels, String workloadName) {
        w.setCanonicalName(firstNonEmpty(labels.get("service.istio.io/canonical-name"),
                        labels.get("app.kubernetes.io/name"), labels.get("app"), workloadName))
                .setCanonicalRevision(firstNonEmpty(labels.get("service.istio.io/canonical-revision"),
                        labels.get("app.kubernetes.io/version"), labels.get("version"), "latest"));
    }

    /**
     * What a Service and a ServiceEntry's host have alike: VIPs on the cluster's network, the waypoint of the object
     * or its namespace ({@code istio.io/use-waypoint}), the load balancing its settings ask for.
     */
    Service withVipsWaypointAndBalancing(Service.Builder s, List<String> vips, ConfigRecord r,
            ConfigRecord namespace, String clusterNetwork) {
        for (String vip : vips) {
            s.addAddresses(NetworkAddress.newBuilder().setNetwork(clusterNetwork)
                    .setAddress(ByteString.copyFrom(ip(vip))));
        }
        GatewayAddress waypoint = waypoint(r.getMetadata().getLabelsMap(), Map.of(),
                namespace == null ? Map.of() : namespace.getMetadata().getLabelsMap(), r.getMetadata().getNamespace());
        if (waypoint != null) {
            s.setWaypoint(waypoint);
        }
        LoadBalancing lb = LoadBalancingTranslator.forService(r, namespace);
        if (lb != null) {
            s.setLoadBalancing(lb);
        }
        return s.build();
    }

    /** A Service's hostname: its own, else {@code <name>.<namespace>.svc.<domain suffix>}. */
    String hostname(ConfigRecord service) {
        String h = service.getService().getHostname();
        return h.isEmpty() ? service.getMetadata().getName() + "." + service.getMetadata().getNamespace() + ".svc."
                + settings.domainSuffix() : h;
    }

    /**
     * {@code istio.io/use-waypoint} on the object (first map that has it), else on its namespace; "none" opts out. A
     * waypoint itself ({@value #MANAGED_GATEWAY}={@value #MESH_CONTROLLER}, as istiod labels the waypoints it
     * deploys) never has one, whatever its namespace says: its traffic would loop back to it.
     */
    GatewayAddress waypoint(Map<String, String> labels, Map<String, String> metaLabels,
            Map<String, String> namespaceLabels, String ns) {
        if (MESH_CONTROLLER.equals(labels.get(MANAGED_GATEWAY))
                || MESH_CONTROLLER.equals(metaLabels.get(MANAGED_GATEWAY))) {
            return null;
        }
        Map<String, String> source = labels.containsKey(USE_WAYPOINT) ? labels
                : metaLabels.containsKey(USE_WAYPOINT) ? metaLabels
                : namespaceLabels.containsKey(USE_WAYPOINT) ? namespaceLabels : null;
        if (source == null || "none".equals(source.get(USE_WAYPOINT))) {
            return null;
        }
        String wpNs = firstNonEmpty(source.get(USE_WAYPOINT_NAMESPACE), ns);
        String host = source.get(USE_WAYPOINT) + "." + wpNs + ".svc." + settings.domainSuffix();
        return GatewayAddress.newBuilder().setHostname(NamespacedHostname.newBuilder().setNamespace(wpNs)
                .setHostname(host)).setHboneMtlsPort(15008).build();
    }

    /** A port's protocol (a Service's {@code appProtocol}, a ServiceEntry port's {@code protocol}), as Istio's. */
    static AppProtocol appProtocol(String p) {
        return switch (p.toLowerCase(java.util.Locale.ROOT)) {
            case "http", "http1", "http/1.1" -> AppProtocol.HTTP11;
            case "http2", "kubernetes.io/h2c" -> AppProtocol.HTTP2;
            case "grpc" -> AppProtocol.GRPC;
            default -> AppProtocol.UNKNOWN;
        };
    }

    /**
     * The bytes of an IP literal, read strictly ({@link IpLiteral}); anything else (a hostname above all: never looked
     * up) is refused, and the record it came in is skipped.
     */
    static byte[] ip(String literal) {
        InetAddress address = IpLiteral.parse(literal);
        if (address == null) {
            throw new IllegalArgumentException("'" + literal + "' is not an IP address");
        }
        return address.getAddress();
    }

    /** Istio's fallback chains: the first value set. */
    static String firstNonEmpty(String... values) {
        for (String v : values) {
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return "";
    }
}
