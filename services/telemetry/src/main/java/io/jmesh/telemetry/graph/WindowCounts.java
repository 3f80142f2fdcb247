package io.jmesh.telemetry.graph;

/**
 * Traffic on one edge over a query window: the sum of its buckets' {@link EdgeCounts}, a bucket the window only
 * partly covers counted in proportion to the part covered. Owned by one query.
 */
final class WindowCounts {
    double requests;
    double requestErrors;
    double requestBytes;
    double responseBytes;
    double connections;
    double connectionErrors;
    double connectionsClosed;
    double sentBytes;
    double receivedBytes;
    double mutualTls;
    double notMutualTls;

    void add(EdgeCounts c, double share) {
        requests += c.requests * share;
        requestErrors += c.requestErrors * share;
        requestBytes += c.requestBytes * share;
        responseBytes += c.responseBytes * share;
        connections += c.connections * share;
        connectionErrors += c.connectionErrors * share;
        connectionsClosed += c.connectionsClosed * share;
        sentBytes += c.sentBytes * share;
        receivedBytes += c.receivedBytes * share;
        mutualTls += c.mutualTls * share;
        notMutualTls += c.notMutualTls * share;
    }

    boolean hasRequests() {
        return requests > 0;
    }
}
