package io.jmesh.proto;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcClient;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcService;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcClient;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcService;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.streams.ReadStream;
import io.vertx.core.streams.WriteStream;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The generated Vert.x stubs, used the way the services will use them, over real HTTP/2 (h2c) on
 * loopback: a unary call with a bearer token (CA), a server stream (trust bundle) and a
 * bidirectional stream with an ACK (delta ADS).
 */
class VertxStubsLoopbackTest {

    private static final String TOKEN = "Bearer node-a-token";

    private static Vertx vertx;
    private static GrpcClient client;
    private static SocketAddress server;
    private static final List<String> adsAcks = new CopyOnWriteArrayList<>();
    private static final List<String> adsAuthorizations = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);

        // Unary, low level: a handler per ServiceMethod sees the request metadata (the bearer token).
        grpc.callHandler(IstioCertificateServiceGrpcService.CreateCertificate, call -> {
            String authorization = call.headers().get("authorization");
            call.handler(request -> {
                if (!TOKEN.equals(authorization)) {
                    call.response().status(io.vertx.grpc.common.GrpcStatus.UNAUTHENTICATED).end();
                    return;
                }
                String identity = request.getMetadata().getFieldsOrThrow("ImpersonatedIdentity").getStringValue();
                call.response().end(IstioCertificateResponse.newBuilder()
                        .addCertChain("LEAF " + identity)
                        .addCertChain("ROOT")
                        .build());
            });
        });

        // Server streaming, generated service: override the Future<ReadStream> form or, as here, the
        // (request, WriteStream) form, which gives direct access to the response stream.
        grpc.addService(new TrustBundleServiceGrpcService() {
            @Override
            protected void watch(WatchTrustBundleRequest request, WriteStream<TrustBundle> response) {
                response.write(TrustBundle.newBuilder().setVersion(request.getKnownVersion() + 1).addRootsPem("OLD").build());
                response.write(TrustBundle.newBuilder().setVersion(request.getKnownVersion() + 2)
                        .addRootsPem("OLD").addRootsPem("NEW").build());
                response.end();
            }
        });

        // Bidirectional streaming, generated service: (ReadStream of requests, WriteStream of responses).
        grpc.addService(new AggregatedDiscoveryServiceGrpcService() {
            @Override
            protected void deltaAggregatedResources(ReadStream<DeltaDiscoveryRequest> requests,
                                                    WriteStream<DeltaDiscoveryResponse> responses) {
                // The streams are the call itself: cast to reach metadata (or status/trailers on the
                // response side, GrpcServerResponse).
                String authorization = ((GrpcServerRequest<?, ?>) requests).headers().get("authorization");
                adsAuthorizations.add(authorization == null ? "<none>" : authorization);
                requests.handler(request -> {
                    if (!request.getResponseNonce().isEmpty()) {
                        adsAcks.add(request.getResponseNonce());
                        return;
                    }
                    Address workload = Address.newBuilder()
                            .setWorkload(Workload.newBuilder().setUid("uid-1").setName("sleep-1"))
                            .build();
                    responses.write(DeltaDiscoveryResponse.newBuilder()
                            .setTypeUrl(request.getTypeUrl())
                            .setNonce("n1")
                            .addResources(Resource.newBuilder()
                                    .setName("uid-1")
                                    .setVersion("1")
                                    .setResource(com.google.protobuf.Any.pack(workload)))
                            .build());
                });
                requests.endHandler(v -> responses.end());
            }
        });

        HttpServer http = await(vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .requestHandler(grpc)
                .listen());
        server = SocketAddress.inetSocketAddress(http.actualPort(), "127.0.0.1");
        client = GrpcClient.client(vertx);
    }

    @AfterAll
    static void stop() throws Exception {
        if (vertx != null) {
            await(vertx.close());
        }
    }

    @BeforeEach
    void clearRecords() {
        adsAcks.clear();
        adsAuthorizations.clear();
    }

    @Test
    void unaryCallWithBearerToken() throws Exception {
        IstioCertificateRequest request = IstioCertificateRequest.newBuilder()
                .setCsr("CSR")
                .setMetadata(com.google.protobuf.Struct.newBuilder().putFields("ImpersonatedIdentity",
                        com.google.protobuf.Value.newBuilder().setStringValue("spiffe://cluster.local/ns/a/sa/b").build()))
                .build();

        // Low level: the ServiceMethod constant plus the plain GrpcClient, so metadata can be set.
        IstioCertificateResponse response = await(
                client.request(server, IstioCertificateServiceGrpcClient.CreateCertificate).compose(call -> {
                    call.headers().set("authorization", TOKEN);
                    call.end(request);
                    return call.response().compose(GrpcClientResponse::last);
                }));

        assertThat(response.getCertChainList()).containsExactly("LEAF spiffe://cluster.local/ns/a/sa/b", "ROOT");
    }

    @Test
    void generatedUnaryClientSendsNoMetadata() {
        // The generated client has no hook for metadata: without the token the CA refuses.
        IstioCertificateServiceGrpcClient ca = IstioCertificateServiceGrpcClient.create(client, server);

        Future<IstioCertificateResponse> response = ca.createCertificate(IstioCertificateRequest.getDefaultInstance());

        assertThat(awaitFailure(response)).hasMessageContaining("UNAUTHENTICATED");
    }

    @Test
    void serverStreamingThroughTheGeneratedClient() throws Exception {
        TrustBundleServiceGrpcClient bundles = TrustBundleServiceGrpcClient.create(client, server);
        List<TrustBundle> received = new CopyOnWriteArrayList<>();
        Promise<Void> ended = Promise.promise();

        // Attach handlers in the completion callback (on the event loop): a handler attached later,
        // from another thread, could miss messages that arrived in between.
        bundles.watch(WatchTrustBundleRequest.newBuilder().setKnownVersion(10).build())
                .onSuccess(stream -> stream.handler(received::add).endHandler(ended::complete).exceptionHandler(ended::fail))
                .onFailure(ended::fail);
        await(ended.future());

        assertThat(received).extracting(TrustBundle::getVersion).containsExactly(11L, 12L);
        assertThat(received.get(1).getRootsPemList()).containsExactly("OLD", "NEW");
    }

    @Test
    void bidirectionalDeltaAdsWithAck() throws Exception {
        AggregatedDiscoveryServiceGrpcClient ads = AggregatedDiscoveryServiceGrpcClient.create(client, server);
        Promise<WriteStream<DeltaDiscoveryRequest>> requests = Promise.promise();
        List<DeltaDiscoveryResponse> received = new CopyOnWriteArrayList<>();
        Promise<Void> ended = Promise.promise();

        // The generated client hands over the request stream through the Completable, and the
        // response stream once the server has answered with headers.
        Future<ReadStream<DeltaDiscoveryResponse>> responses = ads.deltaAggregatedResources(requests);
        // The response handler is in place before the request that makes the server answer is written: set after
        // it, from this thread, it could come after the answer had arrived on the event loop (and was lost).
        responses.onSuccess(in -> in.handler(response -> {
            received.add(response);
            WriteStream<DeltaDiscoveryRequest> out = requests.future().result();
            out.write(DeltaDiscoveryRequest.newBuilder()
                    .setTypeUrl(response.getTypeUrl())
                    .setResponseNonce(response.getNonce())
                    .build());
            out.end();
        }).endHandler(ended::complete).exceptionHandler(ended::fail)).onFailure(ended::fail);
        requests.future().onSuccess(out -> out.write(DeltaDiscoveryRequest.newBuilder()
                .setTypeUrl("type.googleapis.com/istio.workload.Address")
                .addResourceNamesSubscribe("*")
                .build()));
        await(ended.future());

        assertThat(received).hasSize(1);
        Address address = received.get(0).getResources(0).getResource().unpack(Address.class);
        assertThat(address.getWorkload().getUid()).isEqualTo("uid-1");
        assertThat(adsAuthorizations).containsExactly("<none>");
        assertThat(adsAcks).containsExactly("n1");
    }

    @Test
    void bidirectionalDeltaAdsWithMetadataThroughTheServiceMethod() throws Exception {
        List<DeltaDiscoveryResponse> received = new CopyOnWriteArrayList<>();
        Promise<Void> ended = Promise.promise();

        client.request(server, AggregatedDiscoveryServiceGrpcClient.DeltaAggregatedResources).onSuccess(call -> {
            call.headers().set("authorization", TOKEN);
            call.write(DeltaDiscoveryRequest.newBuilder()
                    .setTypeUrl("type.googleapis.com/istio.workload.Address")
                    .addResourceNamesSubscribe("*")
                    .build());
            call.response().onSuccess(in -> in.handler(response -> {
                received.add(response);
                call.write(DeltaDiscoveryRequest.newBuilder()
                        .setTypeUrl(response.getTypeUrl())
                        .setResponseNonce(response.getNonce())
                        .build());
                call.end();
            }).endHandler(ended::complete).exceptionHandler(ended::fail)).onFailure(ended::fail);
        }).onFailure(ended::fail);
        await(ended.future());

        assertThat(received).hasSize(1);
        assertThat(adsAuthorizations).containsExactly(TOKEN);
        assertThat(adsAcks).containsExactly("n1");
    }

    private static <T> T await(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private static Throwable awaitFailure(Future<?> future) {
        try {
            future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            return e.getCause() != null ? e.getCause() : e;
        }
        throw new AssertionError("expected a failure");
    }
}
