package io.jmesh.ca.testing;

import io.vertx.grpc.common.GrpcStatus;

/** A CA call that ended with a non-OK gRPC status. */
public final class CaCallException extends RuntimeException {

    private final GrpcStatus status;

    public CaCallException(GrpcStatus status, String message) {
        super(status + ": " + message);
        this.status = status;
    }

    public GrpcStatus status() {
        return status;
    }

    /** The server's status message. */
    public String statusMessage() {
        String m = getMessage();
        return m.substring(m.indexOf(": ") + 2);
    }
}
