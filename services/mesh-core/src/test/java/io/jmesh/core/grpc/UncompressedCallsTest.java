package io.jmesh.core.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.ca.v1.TokenReviewGrpcService;
import io.jmesh.proto.ca.v1.TokenReviewRequest;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import java.io.ByteArrayOutputStream;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A compressed call is refused before Vert.x inflates it: a gzip message of 8 KiB (an 8 MiB token of one letter)
 * passed a 64 KiB message limit and reached the handler inflated a thousandfold.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class UncompressedCallsTest {

    private static final int LIMIT = 64 * 1024;
    private static final int TOKEN = 8 * 1024 * 1024;

    Vertx vertx;
    GrpcClient client;
    SocketAddress address;
    final AtomicInteger largestToken = new AtomicInteger(-1);
    final PrometheusRegistry registry = new PrometheusRegistry();
    Counter refused;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(LIMIT));
        grpc.callHandler(Decoded.method(TokenReviewGrpcService.Review), call -> SingleRequest.read(call,
                "TokenReviewRequest", request -> {
                    largestToken.accumulateAndGet(request.getToken().length(), Math::max);
                    call.response().end(TokenReviewResponse.newBuilder().setAuthenticated(true).build());
                }));
        refused = UncompressedCalls.counter(registry, "test");
        HttpServer server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .requestHandler(UncompressedCalls.only(grpc, refused)).listen().await(10, TimeUnit.SECONDS);
        address = SocketAddress.inetSocketAddress(server.actualPort(), "127.0.0.1");
        client = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
                .setHttp2ClearTextUpgrade(false));
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    private GrpcClientResponse<Buffer, Buffer> call(String encoding, Buffer message) throws Exception {
        return client.request(address).compose(req -> {
            req.fullMethodName("jmesh.ca.v1.TokenReview/Review");
            req.encoding(encoding);
            req.writeMessage(GrpcMessage.message(encoding, message));
            req.end();
            return req.response().compose(resp -> resp.end().transform(ar -> Future.succeededFuture(resp)));
        }).await(10, TimeUnit.SECONDS);
    }

    @Test
    void aCompressedCallIsRefusedUnimplementedAndNeverInflated() throws Exception {
        byte[] request = TokenReviewRequest.newBuilder().setToken("a".repeat(TOKEN)).build().toByteArray();
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(request);
        }
        assertThat(gz.size()).as("the wire form fits the limit").isLessThan(LIMIT);

        GrpcClientResponse<Buffer, Buffer> resp = call("gzip", Buffer.buffer(gz.toByteArray()));

        assertThat(resp.status()).isEqualTo(GrpcStatus.UNIMPLEMENTED);
        assertThat(resp.statusMessage()).contains("grpc-encoding: gzip (expected: identity");
        assertThat(largestToken.get()).as("no handler saw the call").isEqualTo(-1);
        assertThat(refused.labelValues("/jmesh.ca.v1.TokenReview/Review", "compressed").get()).isEqualTo(1);

        // the same connection goes on serving uncompressed calls
        byte[] small = TokenReviewRequest.newBuilder().setToken("t").build().toByteArray();
        assertThat(call("identity", Buffer.buffer(small)).status()).isEqualTo(GrpcStatus.OK);
        assertThat(largestToken.get()).isEqualTo(1);
    }
}
