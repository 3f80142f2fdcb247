package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streams that end badly, over the real server (gRPC over TLS, reviewed tokens), leave nothing behind: one whose
 * message is not a {@code DeltaDiscoveryRequest} ends with a status that says why and is counted; one the client
 * cancels (RST_STREAM), while served or while its token is being reviewed, or whose connection closes, is no longer
 * registered.
 */
@Timeout(120)
class BadStreamsOverGrpcTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final String METHOD = "envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

    @TempDir
    Path dir;
    Vertx vertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    GrpcClient raw;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki).nodeToken("token-a", "node-a");
        policy = new AdsServerHarness(vertx, pki, tokenReview, 100);
        policy.apply(new ManifestReader("istio-system").read(OnDemandAdsTest.MESH).stream()
                .map(ParsedObject::record).toList());
        policy.start(0);
        raw = GrpcClient.client(vertx, GrpcTls.client(pki.roots));
    }

    @AfterEach
    void tearDown() throws Exception {
        raw.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        policy.close();
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    /** Opens a stream with node-a's token (all on one connection: one client, one server). */
    GrpcClientRequest<Buffer, Buffer> open() throws Exception {
        GrpcClientRequest<Buffer, Buffer> call = raw.request(SocketAddress.inetSocketAddress(policy.port(),
                "127.0.0.1")).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        call.fullMethodName(METHOD);
        call.headers().set("authorization", "Bearer token-a");
        return call;
    }

    static Buffer addressRequest() {
        return Buffer.buffer(DeltaDiscoveryRequest.newBuilder().setTypeUrl(DeltaAdsTestClient.ADDRESS).build()
                .toByteArray());
    }

    /** Opens an authenticated stream, sends {@code message} as its first message (kept open), returns its end. */
    CompletableFuture<String> send(Buffer message) throws Exception {
        CompletableFuture<String> ended = new CompletableFuture<>();
        GrpcClientRequest<Buffer, Buffer> call = open();
        call.response().onComplete(ar -> {
            if (ar.failed()) {
                ended.complete("failed: " + ar.cause());
                return;
            }
            ar.result().exceptionHandler(e -> ended.complete("failed: " + e));
            ar.result().endHandler(v -> ended.complete(ar.result().status().name() + " " + ar.result().statusMessage()));
            ar.result().handler(b -> { });
        });
        call.write(message);
        return ended;
    }

    @Test
    void aMessageThatIsNoDeltaDiscoveryRequestEndsItsStreamInvalidArgumentAndIsCounted() throws Exception {
        // field 1 (type_url) announced as 100 bytes long, 2 follow
        String end = send(Buffer.buffer(new byte[] {0x0a, 0x64, 0x41, 0x42})).get(60, TimeUnit.SECONDS);
        assertThat(end).startsWith(GrpcStatus.INVALID_ARGUMENT.name() + " request is not a DeltaDiscoveryRequest: ");
        await().atMost(WAIT).until(() -> policy.streams() == 0);
        assertThat(policy.counter("policy_xds_malformed_requests")).isEqualTo(1);
    }

    @Test
    void aStreamCancelledWhileItsTokenIsReviewedIsNeverServed() throws Exception {
        tokenReview.hold();
        GrpcClientRequest<Buffer, Buffer> gone = open();
        gone.write(addressRequest());
        await().atMost(WAIT).until(() -> tokenReview.heldReviews() == 1);
        gone.cancel();

        // reviewed after it, on the same connection (one event loop): once this one is served, the cancelled
        // stream's review was answered and handled before
        GrpcClientRequest<Buffer, Buffer> live = open();
        CompletableFuture<DeltaDiscoveryResponse> first = new CompletableFuture<>();
        live.response().onSuccess(r -> r.handler(b -> {
            try {
                first.complete(DeltaDiscoveryResponse.parseFrom(b.getBytes()));
            } catch (Exception e) {
                first.completeExceptionally(e);
            }
        }));
        live.write(addressRequest());
        await().atMost(WAIT).until(() -> tokenReview.heldReviews() == 2);
        tokenReview.release();
        assertThat(first.get(60, TimeUnit.SECONDS).getTypeUrl()).isEqualTo(DeltaAdsTestClient.ADDRESS);

        assertThat(policy.streams()).as("streams registered").isEqualTo(1);
    }

    @Test
    void aServedStreamTheClientCancelsIsUnregistered() throws Exception {
        GrpcClientRequest<Buffer, Buffer> live = open();
        CompletableFuture<Buffer> first = new CompletableFuture<>();
        live.response().onSuccess(r -> r.handler(first::complete));
        live.write(addressRequest());
        first.get(60, TimeUnit.SECONDS);
        assertThat(policy.streams()).isEqualTo(1);
        live.cancel();
        await().atMost(WAIT).until(() -> policy.streams() == 0);
    }

    @Test
    void aServedStreamWhoseConnectionClosesIsUnregistered() throws Exception {
        GrpcClientRequest<Buffer, Buffer> live = open();
        CompletableFuture<Buffer> first = new CompletableFuture<>();
        live.response().onSuccess(r -> r.handler(first::complete));
        live.write(addressRequest());
        first.get(60, TimeUnit.SECONDS);
        assertThat(policy.streams()).isEqualTo(1);
        live.connection().close();
        await().atMost(WAIT).until(() -> policy.streams() == 0);
    }
}
