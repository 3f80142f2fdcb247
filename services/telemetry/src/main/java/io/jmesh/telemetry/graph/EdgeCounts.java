package io.jmesh.telemetry.graph;

/** Traffic on one edge in one time bucket, as one kind of reporter saw it. Mutable only until published. */
final class EdgeCounts {
    long requests;
    long requestErrors;
    long requestBytes;
    long responseBytes;
    long connections;
    long connectionErrors;
    /** Connections that ended (the denominator of a TCP edge's error rate, with {@link #connectionErrors}). */
    long connectionsClosed;
    long sentBytes;
    long receivedBytes;
    long mutualTls;
    long notMutualTls;

    EdgeCounts add(EdgeCounts o) {
        requests += o.requests;
        requestErrors += o.requestErrors;
        requestBytes += o.requestBytes;
        responseBytes += o.responseBytes;
        connections += o.connections;
        connectionErrors += o.connectionErrors;
        connectionsClosed += o.connectionsClosed;
        sentBytes += o.sentBytes;
        receivedBytes += o.receivedBytes;
        mutualTls += o.mutualTls;
        notMutualTls += o.notMutualTls;
        return this;
    }

    EdgeCounts copy() {
        return new EdgeCounts().add(this);
    }
}
