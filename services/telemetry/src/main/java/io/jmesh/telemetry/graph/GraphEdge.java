package io.jmesh.telemetry.graph;

/**
 * Traffic from one node to another over the window, per second.
 *
 * @param protocol {@code http} when requests were seen on the edge, else {@code tcp}
 * @param errorRate failed requests / requests (5xx, no response, or a non-OK gRPC status); for TCP-only edges,
 *     connections closed with response flags / connections closed
 * @param security {@code mutual_tls} (all of it), {@code mixed} (some), or {@code unknown} (none over mutual TLS:
 *     Istio's {@code connection_security_policy} for plaintext)
 * @param reporter whose reports the figures come from ({@code waypoint}, {@code destination} or {@code source}):
 *     each event is reported by several proxies, and one edge only counts one of them
 */
public record GraphEdge(String source, String target, String protocol, double requestsPerSecond, double errorRate,
        double requestBytesPerSecond, double responseBytesPerSecond, double connectionsPerSecond,
        double sentBytesPerSecond, double receivedBytesPerSecond, String security, String reporter) {}
