package io.jmesh.ztunnel.authz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.policy.state.MeshState;
import io.jmesh.ztunnel.testing.PolicyManifests;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.DeltaAdsClient;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code source.serviceAccounts} / {@code notServiceAccounts} from end to end: AuthorizationPolicy manifests go
 * through policy's own reader (the validation every source uses) and state builder; the resulting Address and
 * Authorization resources are pushed over a real delta ADS stream (a minimal server on 127.0.0.1) to ztunnel's
 * {@link DeltaAdsClient}, which feeds its {@link IndexedAuthorizer}; then ztunnel decides for peers of the
 * destination workload as Istio's ztunnel would: by namespace and service account of the SPIFFE id (the trust
 * domain is not compared), a bare name meaning the policy's namespace.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ServiceAccountsFromManifestsTest {

    static final String MANIFESTS = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: reviews, namespace: shop}
            spec: {address: 10.1.0.5, node: node-a, labels: {app: reviews}, serviceAccount: reviews}
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: reviews-callers, namespace: shop}
            spec:
              selector: {matchLabels: {app: reviews}}
              rules:
              - from: [{source: {serviceAccounts: [sleep, other/curl]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: admin-port-for-sleep-only, namespace: shop}
            spec:
              action: DENY
              rules:
              - from: [{source: {notServiceAccounts: [sleep]}}]
                to: [{operation: {ports: ["9090"]}}]
            """;

    static Vertx vertx;
    static HttpServer http;
    static DeltaAdsClient client;
    static final WorkloadStore store = new WorkloadStore();
    static final IndexedAuthorizer authorizer = new IndexedAuthorizer(new PrometheusRegistry());
    static final ConcurrentLinkedQueue<DeltaDiscoveryRequest> received = new ConcurrentLinkedQueue<>();
    static final AtomicReference<GrpcServerResponse<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> stream =
            new AtomicReference<>();
    static List<Resource> authorizations;

    @BeforeAll
    static void translateAndPush() throws Exception {
        MeshState state = PolicyManifests.state(MANIFESTS);
        List<Resource> addresses = state.addresses().values().stream().map(r -> r.wire()).toList();
        authorizations = state.authorizations().values().stream().map(r -> r.wire()).toList();

        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> {
            stream.set(call.response());
            call.handler(received::add);
        });
        http = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null,
                Map.of("MESH_NODE_NAME", "node-a")).config();
        client = new DeltaAdsClient(vertx, GrpcClient.client(vertx),
                SocketAddress.inetSocketAddress(http.actualPort(), "127.0.0.1"), () -> "node-a-token", config, store,
                authorizer, new PrometheusRegistry());
        client.start();
        await().until(() -> stream.get() != null);
        vertx.runOnContext(v -> {
            stream.get().write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(DeltaAdsClient.ADDRESS_TYPE)
                    .setNonce("a1").addAllResources(addresses).build());
            stream.get().write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(DeltaAdsClient.AUTHORIZATION_TYPE)
                    .setNonce("p1").addAllResources(authorizations).build());
        });
        await().until(() -> received.stream().anyMatch(r -> "a1".equals(r.getResponseNonce()))
                && received.stream().anyMatch(r -> "p1".equals(r.getResponseNonce())));
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.stop();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void bothPoliciesArriveAndAreAckedWithTheirServiceAccounts() {
        for (String nonce : List.of("a1", "p1")) {
            DeltaDiscoveryRequest ack = received.stream().filter(r -> nonce.equals(r.getResponseNonce()))
                    .findFirst().orElseThrow();
            assertThat(ack.hasErrorDetail()).as(ack.getErrorDetail().getMessage()).isFalse();
        }
        assertThat(authorizations).hasSize(2);
        assertThat(authorizer.size()).isEqualTo(2);
    }

    @Test
    void theAllowAdmitsExactlyTheNamedServiceAccounts() throws Exception {
        assertThat(allowed("spiffe://cluster.local/ns/shop/sa/sleep", 9080)).as("bare name: the policy's namespace")
                .isTrue();
        assertThat(allowed("spiffe://cluster.local/ns/other/sa/curl", 9080)).as("namespace/name").isTrue();
        assertThat(allowed("spiffe://cluster.local/ns/other/sa/sleep", 9080)).as("sleep of another namespace")
                .isFalse();
        assertThat(allowed("spiffe://cluster.local/ns/shop/sa/curl", 9080)).as("curl of the policy's namespace")
                .isFalse();
        assertThat(allowed("spiffe://other.domain/ns/shop/sa/sleep", 9080))
                .as("the trust domain is not compared, as in Istio's ztunnel").isTrue();
        assertThat(allowed(null, 9080)).as("no identity is no service account").isFalse();
    }

    @Test
    void theDenyExcludesEveryoneButTheNamedServiceAccountOnItsPort() throws Exception {
        assertThat(allowed("spiffe://cluster.local/ns/shop/sa/sleep", 9090)).isTrue();
        assertThat(allowed("spiffe://cluster.local/ns/other/sa/curl", 9090))
                .as("allowed by the ALLOW, denied on 9090 by the DENY").isFalse();
    }

    private static boolean allowed(String identity, int port) throws Exception {
        Workload reviews = store.current().workloadByIp(InetAddress.getByName("10.1.0.5"));
        assertThat(reviews).isNotNull();
        ConnectionFacts facts = new ConnectionFacts(identity == null ? null : SpiffeId.parse(identity),
                InetAddress.getByName("10.0.0.1"), InetAddress.getByName("10.1.0.5"), port, reviews.getNamespace(),
                reviews.getAuthorizationPoliciesList());
        return authorizer.check(facts).allowed();
    }
}
