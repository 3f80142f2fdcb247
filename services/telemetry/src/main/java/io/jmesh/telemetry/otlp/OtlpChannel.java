package io.jmesh.telemetry.otlp;

import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.prometheus.metrics.core.metrics.Counter;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.grpc.client.GrpcClient;

/**
 * The gRPC client to the OTLP collector (plaintext, HTTP/2 prior knowledge). Each connection is PINGed as
 * {@code otlp.keepalive*} say and closed when the collector stops answering ({@code keepaliveTimeouts}, peer
 * {@code otlp}): an export that timed out leaves its connection in the pool, and without the PINGs every later
 * export would go over the same half-open connection and time out too, until the kernel gives up on it.
 */
final class OtlpChannel {

    private final HttpClientAgent http;
    private final GrpcClient grpc;

    OtlpChannel(Vertx vertx, OtlpConfig config, Counter keepaliveTimeouts) {
        this.http = Http2Liveness.client(vertx, new HttpClientOptions(),
                new Http2Liveness(vertx, config.keepalive(), "otlp", keepaliveTimeouts));
        this.grpc = GrpcClient.client(vertx, http);
    }

    GrpcClient grpc() {
        return grpc;
    }

    /** Closes the gRPC client and its connections (the gRPC client does not close the HTTP client it was given). */
    Future<Void> close() {
        return grpc.close().eventually(http::close);
    }
}
