package io.jmesh.core.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.ca.v1.TokenReviewGrpcClient;
import io.jmesh.proto.ca.v1.TokenReviewGrpcService;
import io.jmesh.proto.ca.v1.TokenReviewRequest;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A single-request call on a real gRPC server and client (HTTP/2 over loopback): exactly one message runs the
 * operation once; none or several are answered {@code INVALID_ARGUMENT} and run nothing.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SingleRequestTest {

    Vertx vertx;
    HttpServer server;
    GrpcClient client;
    SocketAddress address;
    final AtomicInteger runs = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(Decoded.method(TokenReviewGrpcService.Review), call -> SingleRequest.read(call,
                "TokenReviewRequest",
                request -> {
                    runs.incrementAndGet();
                    call.response().end(TokenReviewResponse.newBuilder().setAuthenticated(true)
                            .setError(request.getToken()).build());
                }));
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().await(10, TimeUnit.SECONDS);
        address = SocketAddress.inetSocketAddress(server.actualPort(), "127.0.0.1");
        client = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
                .setHttp2ClearTextUpgrade(false));
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    /** Sends {@code messages} (raw bytes, so a malformed one can be sent too) and returns the call's end. */
    GrpcClientResponse<Buffer, Buffer> call(List<Buffer> messages) throws Exception {
        return client.request(address).compose(req -> {
            req.fullMethodName("jmesh.ca.v1.TokenReview/Review");
            messages.forEach(m -> req.writeMessage(io.vertx.grpc.common.GrpcMessage.message("identity", m)));
            req.end();
            // the end fails on a non-OK status; the status is what is checked
            return req.response()
                    .compose(resp -> resp.end().transform(ar -> io.vertx.core.Future.succeededFuture(resp)));
        }).await(10, TimeUnit.SECONDS);
    }

    static Buffer message(String token) {
        return Buffer.buffer(TokenReviewRequest.newBuilder().setToken(token).build().toByteArray());
    }

    @Test
    void oneMessageRunsTheOperationOnce() throws Exception {
        TokenReviewResponse answer = client.request(address, TokenReviewGrpcClient.Review)
                .compose(req -> req.end(TokenReviewRequest.newBuilder().setToken("t").build())
                        .compose(v -> req.response()).compose(resp -> resp.last()))
                .await(10, TimeUnit.SECONDS);
        assertThat(answer.getError()).isEqualTo("t");
        assertThat(runs).hasValue(1);
    }

    @Test
    void aCallWithoutAMessageIsAnsweredNotLeftOpen() throws Exception {
        var resp = call(List.of());
        assertThat(resp.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
        assertThat(resp.statusMessage()).isEqualTo(
                "request: no TokenReviewRequest message before the end of the stream (expected: exactly one)");
        assertThat(runs).hasValue(0);
    }

    @Test
    void severalMessagesRunNothing() throws Exception {
        var resp = call(List.of(message("a"), message("b"), message("c")));
        assertThat(resp.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
        assertThat(resp.statusMessage()).isEqualTo(
                "request: more than one TokenReviewRequest message (expected: exactly one)");
        assertThat(runs).hasValue(0);
    }

    /** Bound through {@link Decoded#method}, a message that is no request is answered with protobuf's reason. */
    @Test
    void anUndecodableMessageIsAnsweredWithWhyAndRunsNothing() throws Exception {
        var resp = call(List.of(Buffer.buffer(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff})));
        assertThat(resp.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
        assertThat(resp.statusMessage()).startsWith("request: the message does not decode as TokenReviewRequest: ");
        assertThat(runs).hasValue(0);
    }
}
