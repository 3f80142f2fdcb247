package io.jmesh.telemetry.graph;

/**
 * A node of the service graph.
 *
 * @param id stable identifier: {@code workload:<namespace>/<workload>}, {@code service:<hostname>},
 *     {@code unknown} (sources outside the mesh) or {@code unknown-destination} (destinations outside it)
 * @param kind {@code workload}, {@code service} or {@code unknown}
 */
public record GraphNode(String id, String kind, String name, String namespace, String app, String version) {

    /** Where traffic from outside the mesh comes from. */
    static final GraphNode UNKNOWN = new GraphNode("unknown", "unknown", "unknown", "", "", "");

    /**
     * Where traffic to outside the mesh goes. Apart from {@link #UNKNOWN}: one node for both would draw a path,
     * from a workload calling out to a workload called from outside, that no traffic took.
     */
    static final GraphNode UNKNOWN_DESTINATION = new GraphNode("unknown-destination", "unknown",
            "unknown destination", "", "", "");
}
