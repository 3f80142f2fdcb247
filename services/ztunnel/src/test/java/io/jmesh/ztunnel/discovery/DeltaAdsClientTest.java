package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The delta ADS client against a minimal delta ADS server written here from the proto, which can send what the
 * real one never does (broken resources): ACK/NACK per nonce, partial application of a batch, removals, bearer
 * token, {@code initial_resource_versions} on reconnect, and the last good state kept through an outage.
 * {@link DeltaAdsClientAgainstPolicyTest} runs the client against policy's real server at scale.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DeltaAdsClientTest {

    Vertx vertx;
    HttpServer http;
    DeltaAdsClient client;
    PolicyChannel channel;
    WorkloadStore store;
    RetainedPolicies policies;
    final ConcurrentLinkedQueue<DeltaDiscoveryRequest> received = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<String> tokens = new ConcurrentLinkedQueue<>();
    final AtomicReference<GrpcServerResponse<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> stream =
            new AtomicReference<>();
    final AtomicInteger streams = new AtomicInteger();
    final AtomicReference<io.vertx.core.http.HttpConnection> connection = new AtomicReference<>();
    int port;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        port = listen(0);
        store = new WorkloadStore();
        policies = new RetainedPolicies();
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null,
                Map.of("MESH_DISCOVERY_INITIAL_BACKOFF", "20ms", "MESH_DISCOVERY_MAX_BACKOFF", "200ms")).config();
        // the channel ztunnel reaches policy with (in plaintext)
        channel = PolicyChannel.open(vertx, config.discovery(), new PrometheusRegistry());
        client = new DeltaAdsClient(vertx, channel.grpc(), SocketAddress.inetSocketAddress(port, "127.0.0.1"),
                () -> "node-a-token", config, store, policies, new PrometheusRegistry());
        client.start();
    }

    private int listen(int p) throws Exception {
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> {
            streams.incrementAndGet();
            tokens.add(String.valueOf(call.headers().get("authorization")));
            stream.set(call.response());
            connection.set(call.connection());
            call.handler(received::add);
        });
        http = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(p)).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        return http.actualPort();
    }

    @AfterEach
    void stop() throws Exception {
        client.stop();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static Resource workload(String uid, String ip, String version) throws Exception {
        Address a = Address.newBuilder().setWorkload(Workload.newBuilder().setUid(uid).setName(uid)
                .setNamespace("default").addAddresses(ByteString.copyFrom(InetAddress.getByName(ip).getAddress())))
                .build();
        return Resource.newBuilder().setName(uid).setVersion(version).setResource(Any.pack(a)).build();
    }

    void push(String type, String nonce, List<Resource> resources, List<String> removed) {
        var s = stream.get();
        vertx.runOnContext(v -> s.write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(type).setNonce(nonce)
                .addAllResources(resources).addAllRemovedResources(removed).build()));
    }

    DeltaDiscoveryRequest ackFor(String nonce) {
        await().until(() -> received.stream().anyMatch(r -> nonce.equals(r.getResponseNonce())));
        return received.stream().filter(r -> nonce.equals(r.getResponseNonce())).findFirst().orElseThrow();
    }

    @Test
    void subscribesToBothTypesAsTheNodeAndAcksValidPushes() throws Exception {
        await().until(() -> received.size() >= 2);
        assertThat(received).extracting(DeltaDiscoveryRequest::getTypeUrl)
                .contains(DeltaAdsClient.ADDRESS_TYPE, DeltaAdsClient.AUTHORIZATION_TYPE);
        assertThat(received.peek().getNode().getId()).startsWith("ztunnel~");
        assertThat(tokens).containsOnly("Bearer node-a-token");

        push(DeltaAdsClient.ADDRESS_TYPE, "n1", List.of(workload("w1", "10.0.0.1", "1")), List.of());
        assertThat(ackFor("n1").hasErrorDetail()).isFalse();
        assertThat(store.current().workloadByUid("w1")).isNotNull();
        assertThat(client.firstFullSync().isComplete()).isFalse();

        Authorization policy = Authorization.newBuilder().setName("deny-all").setNamespace("default").build();
        push(DeltaAdsClient.AUTHORIZATION_TYPE, "n2", List.of(Resource.newBuilder().setName("default/deny-all")
                .setVersion("7").setResource(Any.pack(policy)).build()), List.of());
        ackFor("n2");
        assertThat(policies.all()).containsExactly(policy);
        await().until(() -> client.firstFullSync().isComplete());

        push(DeltaAdsClient.ADDRESS_TYPE, "n3", List.of(), List.of("w1"));
        ackFor("n3");
        assertThat(store.current().workloadByUid("w1")).isNull();
    }

    @Test
    void aBadResourceIsNackedAloneWhileTheRestOfTheBatchApplies() throws Exception {
        await().until(() -> stream.get() != null);
        Resource bad = Resource.newBuilder().setName("broken").setVersion("1")
                .setResource(Any.newBuilder().setTypeUrl("type.googleapis.com/istio.workload.Address")
                        .setValue(ByteString.copyFromUtf8("\u00ff\u00ff not a proto"))).build();
        Resource wrongName = workload("w3", "10.0.0.3", "1").toBuilder().setName("other-name").build();
        push(DeltaAdsClient.ADDRESS_TYPE, "n1", List.of(workload("w2", "10.0.0.2", "1"), bad, wrongName), List.of());
        DeltaDiscoveryRequest nack = ackFor("n1");
        assertThat(nack.getErrorDetail().getMessage()).contains("broken").contains("other-name");
        assertThat(store.current().workloadByUid("w2")).isNotNull();
        assertThat(store.current().resources()).hasSize(1);
    }

    /**
     * A response of a type this client never subscribed to is answered, with a NACK naming the type, so the server
     * learns it went unread (Istio's client logs "unknown type" and ACKs it, its TODO asking for an error or no
     * answer instead), and it counts for nothing.
     */
    @Test
    void aResponseOfAnUnsubscribedTypeIsNackedNamingTheType() throws Exception {
        await().until(() -> stream.get() != null);
        push("type.googleapis.com/envoy.config.cluster.v3.Cluster", "n1", List.of(), List.of());
        DeltaDiscoveryRequest nack = ackFor("n1");
        assertThat(nack.getTypeUrl()).isEqualTo("type.googleapis.com/envoy.config.cluster.v3.Cluster");
        assertThat(nack.getErrorDetail().getMessage())
                .isEqualTo("unsubscribed type type.googleapis.com/envoy.config.cluster.v3.Cluster");
        assertThat(client.firstFullSync().isComplete()).isFalse();
    }

    /**
     * Readiness waits for a response of each type that was accepted whole (Istio's ztunnel counts a type as
     * received only when its response is ACKed): a first push NACKed is not yet the configuration to serve.
     */
    @Test
    void aNackedResponseDoesNotCountAsTheFirstConfigurationOfItsType() throws Exception {
        await().until(() -> stream.get() != null);
        Authorization policy = Authorization.newBuilder().setName("deny-all").setNamespace("default").build();
        push(DeltaAdsClient.AUTHORIZATION_TYPE, "n1", List.of(Resource.newBuilder().setName("default/deny-all")
                .setVersion("1").setResource(Any.pack(policy)).build()), List.of());
        assertThat(ackFor("n1").hasErrorDetail()).isFalse();
        Resource bad = workload("w3", "10.0.0.3", "1").toBuilder().setName("other-name").build();
        push(DeltaAdsClient.ADDRESS_TYPE, "n2", List.of(workload("w2", "10.0.0.2", "1"), bad), List.of());
        assertThat(ackFor("n2").hasErrorDetail()).isTrue();
        // one more round trip: the client handled n2 whole before it answered n3
        push(DeltaAdsClient.ADDRESS_TYPE, "n3", List.of(bad), List.of());
        assertThat(ackFor("n3").hasErrorDetail()).isTrue();
        assertThat(client.firstFullSync().isComplete()).as("ready after NACKed address responses").isFalse();

        push(DeltaAdsClient.ADDRESS_TYPE, "n4", List.of(workload("w3", "10.0.0.3", "2")), List.of());
        assertThat(ackFor("n4").hasErrorDetail()).isFalse();
        await().until(() -> client.firstFullSync().isComplete());
        assertThat(store.current().resources()).containsOnlyKeys("w2", "w3");
    }

    /**
     * A snapshot policy splits into parts is one response to Istio's ztunnel (istiod never splits): a part NACKed
     * makes the whole first configuration NACKed, though the last part is accepted.
     */
    @Test
    void aSplitSnapshotWithAPartNackedDoesNotCountAsTheFirstConfiguration() throws Exception {
        await().until(() -> stream.get() != null);
        Authorization policy = Authorization.newBuilder().setName("deny-all").setNamespace("default").build();
        push(DeltaAdsClient.AUTHORIZATION_TYPE, "n1", List.of(Resource.newBuilder().setName("default/deny-all")
                .setVersion("1").setResource(Any.pack(policy)).build()), List.of());
        assertThat(ackFor("n1").hasErrorDetail()).isFalse();
        Resource bad = workload("w3", "10.0.0.3", "1").toBuilder().setName("other-name").build();
        pushPart("n2", "7" + io.jmesh.core.xds.XdsTypes.PARTIAL_SUFFIX, List.of(workload("w1", "10.0.0.1", "1"), bad));
        assertThat(ackFor("n2").hasErrorDetail()).isTrue();
        pushPart("n3", "7", List.of(workload("w2", "10.0.0.2", "1")));
        assertThat(ackFor("n3").hasErrorDetail()).isFalse();
        // one more round trip: the client handled n3 whole before it answered n4
        pushPart("n4", "7", List.of(bad));
        assertThat(ackFor("n4").hasErrorDetail()).isTrue();
        assertThat(client.firstFullSync().isComplete()).as("ready after a snapshot with a part NACKed").isFalse();

        pushPart("n5", "8", List.of(workload("w3", "10.0.0.3", "2")));
        assertThat(ackFor("n5").hasErrorDetail()).isFalse();
        await().until(() -> client.firstFullSync().isComplete());
        assertThat(store.current().resources()).containsOnlyKeys("w1", "w2", "w3");
    }

    void pushPart(String nonce, String systemVersion, List<Resource> resources) {
        var s = stream.get();
        vertx.runOnContext(v -> s.write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(DeltaAdsClient.ADDRESS_TYPE)
                .setNonce(nonce).setSystemVersionInfo(systemVersion).addAllResources(resources).build()));
    }

    @Test
    void aPolicyThatCannotBeEnforcedIsNackedAloneAndNotAnnouncedOnReconnect() throws Exception {
        await().until(() -> stream.get() != null);
        Authorization good = Authorization.newBuilder().setName("allow-sleep").setNamespace("default").build();
        Authorization bad = Authorization.newBuilder().setName("bad-ip").setNamespace("default")
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addSourceIps(io.jmesh.proto.istio.security.Address.newBuilder()
                                .setAddress(ByteString.copyFrom(new byte[5])).setLength(8))))).build();
        push(DeltaAdsClient.AUTHORIZATION_TYPE, "n1", List.of(
                Resource.newBuilder().setName("default/allow-sleep").setVersion("1").setResource(Any.pack(good)).build(),
                Resource.newBuilder().setName("default/bad-ip").setVersion("1").setResource(Any.pack(bad)).build()),
                List.of());
        DeltaDiscoveryRequest nack = ackFor("n1");
        assertThat(nack.getErrorDetail().getMessage()).contains("default/bad-ip")
                .contains("source_ips[0].address: 5 bytes").doesNotContain("allow-sleep");
        assertThat(policies.all()).containsExactly(good);
        // what was not accepted is not claimed as held
        assertThat(client.versions().get(DeltaAdsClient.AUTHORIZATION_TYPE))
                .containsExactly(Map.entry("default/allow-sleep", "1"));
    }

    @Test
    void reconnectAnnouncesAcceptedVersionsAndKeepsTheLastGoodState() throws Exception {
        await().until(() -> stream.get() != null);
        push(DeltaAdsClient.ADDRESS_TYPE, "n1", List.of(workload("w1", "10.0.0.1", "v1"),
                workload("w2", "10.0.0.2", "v2")), List.of());
        ackFor("n1");
        received.clear();
        // outage: the server ends the stream with an error
        var s = stream.get();
        vertx.runOnContext(v -> s.status(GrpcStatus.UNAVAILABLE).end());
        await().atMost(Duration.ofSeconds(10)).until(() -> streams.get() >= 2 && received.stream()
                .anyMatch(r -> r.getTypeUrl().equals(DeltaAdsClient.ADDRESS_TYPE)));
        DeltaDiscoveryRequest resubscribe = received.stream()
                .filter(r -> r.getTypeUrl().equals(DeltaAdsClient.ADDRESS_TYPE)).findFirst().orElseThrow();
        assertThat(resubscribe.getInitialResourceVersionsMap()).containsExactlyInAnyOrderEntriesOf(
                Map.of("w1", "v1", "w2", "v2"));
        assertThat(store.current().resources()).containsOnlyKeys("w1", "w2");
    }

    /**
     * A stream the server resets (Vert.x reports it to the client as an error and then as an end) or whose
     * connection goes is replaced by exactly one new stream, not one per report.
     */
    @Test
    void aStreamThatEndsBadlyIsReplacedByOneStream() throws Exception {
        await().until(() -> stream.get() != null);
        var s = stream.get();
        vertx.runOnContext(v -> s.cancel());
        await().atMost(Duration.ofSeconds(10)).until(() -> streams.get() >= 2);
        Thread.sleep(1000); // five times the longest backoff: a second reconnect would have come by now
        assertThat(streams.get()).isEqualTo(2);

        var second = connection.get();
        vertx.runOnContext(v -> second.close());
        await().atMost(Duration.ofSeconds(10)).until(() -> streams.get() >= 3);
        Thread.sleep(1000);
        assertThat(streams.get()).isEqualTo(3);
    }

    @Test
    void aWorkloadWhoseWaypointIsNoAddressIsNackedAloneNamingTheField() throws Exception {
        await().until(() -> stream.get() != null);
        Address broken = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("w9").setName("w9")
                .setNamespace("default").addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, 9}))
                .setWaypoint(io.jmesh.proto.istio.workload.GatewayAddress.newBuilder().setAddress(
                        io.jmesh.proto.istio.workload.NetworkAddress.newBuilder()
                                .setAddress(ByteString.copyFrom(new byte[5]))))).build();
        push(DeltaAdsClient.ADDRESS_TYPE, "n1", List.of(workload("w1", "10.0.0.1", "1"),
                Resource.newBuilder().setName("w9").setVersion("1").setResource(Any.pack(broken)).build()), List.of());
        DeltaDiscoveryRequest nack = ackFor("n1");
        assertThat(nack.getErrorDetail().getMessage())
                .isEqualTo("workload w9: waypoint.address has 5 bytes (expected: 4 or 16)");
        assertThat(store.current().resources()).containsOnlyKeys("w1");
        assertThat(client.versions().get(DeltaAdsClient.ADDRESS_TYPE)).containsOnlyKeys("w1");
    }

    /**
     * istiod sends the whole mesh in one response (Istio's client accepts up to 200 MiB); gRPC's default limit of
     * 256 KiB would fail the stream on every reconnect, and the node would never sync.
     */
    @Test
    void aResponseLargerThanGrpcsDefaultMessageLimitIsAppliedAndAcked() throws Exception {
        await().until(() -> stream.get() != null);
        List<Resource> mesh = new java.util.ArrayList<>();
        for (int i = 0; i < 4000; i++) {
            mesh.add(workload("cluster1//Pod/default/a-rather-long-pod-name-" + i, "10.1." + (i / 250) + "." + (i % 250),
                    "v1"));
        }
        DeltaDiscoveryResponse whole = DeltaDiscoveryResponse.newBuilder().setTypeUrl(DeltaAdsClient.ADDRESS_TYPE)
                .setNonce("big").addAllResources(mesh).build();
        assertThat(whole.getSerializedSize()).isGreaterThan(256 * 1024);
        push(DeltaAdsClient.ADDRESS_TYPE, "big", mesh, List.of());
        assertThat(ackFor("big").hasErrorDetail()).isFalse();
        assertThat(store.current().resources()).hasSize(4000);
        assertThat(streams.get()).isEqualTo(1);
    }
}
