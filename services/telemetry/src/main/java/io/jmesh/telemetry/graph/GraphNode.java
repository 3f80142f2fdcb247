package io.jmesh.telemetry.graph;

/**
 * A node of the service graph.
 *
 * @param id stable identifier: {@code workload:<namespace>/<workload>}, {@code service:<hostname>} or
 *     {@code unknown}
 * @param kind {@code workload}, {@code service} or {@code unknown}
 */
public record GraphNode(String id, String kind, String name, String namespace, String app, String version) {

    static final GraphNode UNKNOWN = new GraphNode("unknown", "unknown", "unknown", "", "", "");
}
