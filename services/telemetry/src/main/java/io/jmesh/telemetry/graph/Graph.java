package io.jmesh.telemetry.graph;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** The service graph over one window. Immutable. */
public record Graph(Duration window, Instant at, List<GraphNode> nodes, List<GraphEdge> edges) {

    public JsonObject toJson() {
        JsonArray n = new JsonArray();
        for (GraphNode node : nodes) {
            n.add(new JsonObject().put("id", node.id()).put("kind", node.kind()).put("name", node.name())
                    .put("namespace", node.namespace()).put("app", node.app()).put("version", node.version()));
        }
        JsonArray e = new JsonArray();
        for (GraphEdge edge : edges) {
            e.add(new JsonObject().put("source", edge.source()).put("target", edge.target())
                    .put("protocol", edge.protocol())
                    .put("requestsPerSecond", edge.requestsPerSecond())
                    .put("errorRate", edge.errorRate())
                    .put("requestBytesPerSecond", edge.requestBytesPerSecond())
                    .put("responseBytesPerSecond", edge.responseBytesPerSecond())
                    .put("connectionsPerSecond", edge.connectionsPerSecond())
                    .put("sentBytesPerSecond", edge.sentBytesPerSecond())
                    .put("receivedBytesPerSecond", edge.receivedBytesPerSecond())
                    .put("security", edge.security())
                    .put("reporter", edge.reporter()));
        }
        return new JsonObject().put("window", window.toString()).put("windowSeconds", window.toSeconds())
                .put("at", at.toString()).put("nodes", n).put("edges", e);
    }
}
