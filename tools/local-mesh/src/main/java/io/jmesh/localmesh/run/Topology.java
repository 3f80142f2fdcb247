package io.jmesh.localmesh.run;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Where the mesh's processes run and listen. {@link #local} is {@code make run}'s layout (every component on its
 * own loopback address, in this network namespace); tests place the same components elsewhere, e.g. in network
 * namespaces they create (each component then runs under {@code ip netns exec <namespace>}).
 *
 * @param kafka the broker's address (port {@link Layout#KAFKA_PORT})
 * @param controlPlaneNamespace network namespace of ca, policy, telemetry and waypoint-mgr; empty: this one
 * @param manifests the directory policy reads its Kubernetes/Istio manifests from
 */
public record Topology(String kafka, String ca, String policy, String telemetry, String waypointMgr,
        String controlPlaneNamespace, List<Node> nodes, Path manifests) {

    public Topology {
        Objects.requireNonNull(kafka, "kafka");
        Objects.requireNonNull(ca, "ca");
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(telemetry, "telemetry");
        Objects.requireNonNull(waypointMgr, "waypointMgr");
        controlPlaneNamespace = controlPlaneNamespace == null ? "" : controlPlaneNamespace;
        nodes = List.copyOf(nodes);
        Objects.requireNonNull(manifests, "manifests");
    }

    /**
     * One node's ztunnel.
     *
     * @param address the node address ztunnel binds (15001, 15008, 15021...)
     * @param localAdminPort ztunnel's local admin port (on 127.0.0.1 of its namespace)
     * @param namespace network namespace ztunnel runs in; empty: this one
     * @param listeners extra entries of ztunnel's {@code listeners} map, e.g. {@code transparent: true}; may be empty
     * @param extraConfig further top-level YAML of ztunnel's configuration; may be empty
     */
    public record Node(String name, String address, int localAdminPort, String namespace, String listeners,
            String extraConfig, String dualStackAddress) {
        public Node {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(address, "address");
            namespace = namespace == null ? "" : namespace;
            listeners = listeners == null ? "" : listeners;
            extraConfig = extraConfig == null ? "" : extraConfig;
            dualStackAddress = dualStackAddress == null ? "" : dualStackAddress;
        }

        /** A single-stack node. */
        public Node(String name, String address, int localAdminPort, String namespace, String listeners,
                String extraConfig) {
            this(name, address, localAdminPort, namespace, listeners, extraConfig, "");
        }
    }

    /** This layout, policy serving the manifests in {@code dir}. */
    public Topology withManifests(Path dir) {
        return new Topology(kafka, ca, policy, telemetry, waypointMgr, controlPlaneNamespace, nodes, dir);
    }

    /** {@code make run}: {@link Layout}'s loopback addresses, the demo manifests. */
    public static Topology local(Path repo) {
        return new Topology(Layout.KAFKA, Layout.CA, Layout.POLICY, Layout.TELEMETRY, Layout.WAYPOINT_MGR, "",
                List.of(node(Layout.NODE_A), node(Layout.NODE_B)), repo.resolve("demo/manifests"));
    }

    private static Node node(Layout.Node n) {
        return new Node(n.name(), n.address(), n.localAdminPort(), "", "", "");
    }
}
