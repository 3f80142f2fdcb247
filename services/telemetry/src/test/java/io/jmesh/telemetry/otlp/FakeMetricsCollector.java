package io.jmesh.telemetry.otlp;

import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * An OTLP/gRPC metrics collector on loopback, built from the OTLP protos: it accepts every export and keeps the
 * requests in the order they came.
 */
final class FakeMetricsCollector implements AutoCloseable {

    static final ServiceMethod<ExportMetricsServiceRequest, ExportMetricsServiceResponse> EXPORT =
            ServiceMethod.server(ServiceName.create("opentelemetry.proto.collector.metrics.v1.MetricsService"),
                    "Export", GrpcMessageEncoder.encoder(),
                    GrpcMessageDecoder.decoder(ExportMetricsServiceRequest.newBuilder()));

    private final Vertx vertx;
    private final HttpServer server;
    private final List<ExportMetricsServiceRequest> received = new CopyOnWriteArrayList<>();

    /** @param maxMessageSize the largest request it takes, as a real collector's limit; 0: gRPC's default */
    static FakeMetricsCollector start(int maxMessageSize) throws Exception {
        return new FakeMetricsCollector(maxMessageSize);
    }

    private FakeMetricsCollector(int maxMessageSize) throws Exception {
        vertx = Vertx.vertx();
        GrpcServerOptions options = new GrpcServerOptions();
        if (maxMessageSize > 0) {
            options.setMaxMessageSize(maxMessageSize);
        }
        GrpcServer grpc = GrpcServer.server(vertx, options);
        grpc.callHandler(EXPORT, call -> call.handler(req -> {
            received.add(req);
            call.response().end(ExportMetricsServiceResponse.getDefaultInstance());
        }));
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .requestHandler(grpc).listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** The requests received so far (live, thread-safe). */
    List<ExportMetricsServiceRequest> received() {
        return received;
    }

    /** {@code host:port}, as {@code otlp.endpoint} takes it. */
    String endpoint() {
        return "127.0.0.1:" + server.actualPort();
    }

    @Override
    public void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
