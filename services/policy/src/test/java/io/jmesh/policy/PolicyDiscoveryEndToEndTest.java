package io.jmesh.policy;

import static io.jmesh.policy.testing.DeltaAdsTestClient.ADDRESS;
import static io.jmesh.policy.testing.DeltaAdsTestClient.AUTHORIZATION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * YAML manifests → config log (real Kafka) → policy replica → delta ADS over TLS to a ztunnel-like client
 * authenticated by a bearer token reviewed through TokenReview (a stand-in server built from the CA's proto).
 */
@Timeout(180)
class PolicyDiscoveryEndToEndTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static final String UID = "Kubernetes/networking.istio.io/WorkloadEntry/shop/";
    static final String WORKLOADS = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: reviews-1, namespace: shop}
            spec: {address: 127.0.10.5, labels: {app: reviews}, node: node-a, serviceAccount: reviews}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: db-1, namespace: shop}
            spec: {address: 127.0.10.6, labels: {app: db}, node: node-b}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: reviews, namespace: shop}
            spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{port: 80, targetPort: 9080}]}
            """;
    static final String REVIEWS_POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: reviews-only-sleep, namespace: shop}
            spec:
              selector: {matchLabels: {app: reviews}}
              rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/sleep]}}]}]
            """;
    static final String DB_POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: db-deny-curl, namespace: shop}
            spec:
              selector: {matchLabels: {app: db}}
              action: DENY
              rules: [{from: [{source: {principals: ["*/sa/curl"]}}]}]
            """;

    @TempDir
    Path dir;
    Vertx vertx;
    TestPki pki;
    FakeTokenReview tokenReview;
    Path manifests;
    String topic;
    final List<PolicyBootstrap> replicas = new ArrayList<>();
    final List<DeltaAdsTestClient> clients = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki).nodeToken("token-a", "node-a").nodeToken("token-b", "node-b");
        manifests = Files.createDirectory(dir.resolve("manifests"));
        topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
    }

    @AfterEach
    void tearDown() throws Exception {
        clients.forEach(DeltaAdsTestClient::close);
        for (PolicyBootstrap r : replicas) {
            r.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    PolicyConfig config(boolean withManifests) {
        return config(withManifests, PolicyConfig.Kubernetes.OFF);
    }

    PolicyConfig config(boolean withManifests, PolicyConfig.Kubernetes kubernetes) {
        return new PolicyConfig("info", Duration.ofSeconds(5), new AdminConfig("127.0.0.1", 0),
                new PolicyConfig.Mesh("istio-system", "cluster.local", "Kubernetes", "cluster.local"),
                new PolicyConfig.Kafka(kafka.bootstrapServers(), topic, (short) 1),
                new PolicyConfig.Xds("127.0.0.1", 0, pki.certPem.toString(), pki.keyPem.toString(), 2, Duration.ofSeconds(10)),
                new PolicyConfig.TokenReview("127.0.0.1", tokenReview.port(), pki.rootPem.toString(), "",
                        Duration.ofSeconds(5)),
                new PolicyConfig.ConfigAdmin(List.of("spiffe://cluster.local/ns/ops/sa/admin")),
                new PolicyConfig.Manifests(withManifests ? manifests.toString() : "", Duration.ofMillis(100)),
                kubernetes);
    }

    PolicyBootstrap replica(boolean withManifests) throws Exception {
        PolicyBootstrap b = new PolicyBootstrap(config(withManifests), ServiceContext.create(vertx));
        replicas.add(b);
        b.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        b.registry().ready().get(60, TimeUnit.SECONDS);
        return b;
    }

    DeltaAdsTestClient client(PolicyBootstrap replica, String token, String node) {
        DeltaAdsTestClient c = new DeltaAdsTestClient(vertx, pki, replica.port(), token, node);
        clients.add(c);
        return c;
    }

    /**
     * Replaces a manifest file at once, as a ConfigMap update swaps its files: a poll never reads it half-written
     * (a truncated file would delete what it held until the next poll).
     */
    void writeManifest(Path file, String content) throws java.io.IOException {
        Path tmp = Files.createTempFile(manifests, ".", ".tmp");
        Files.writeString(tmp, content);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void snapshotThenDeltasPerNodeAndAllAcknowledged() throws Exception {
        writeManifest(manifests.resolve("workloads.yaml"), WORKLOADS);
        writeManifest(manifests.resolve("policies.yaml"), REVIEWS_POLICY + "---\n" + DB_POLICY);
        PolicyBootstrap policy = replica(true);
        await().atMost(Duration.ofSeconds(30)).until(() -> policy.registry().state().authorizations().size() == 2);

        DeltaAdsTestClient a = client(policy, "token-a", "node-a").connect();
        DeltaAdsTestClient b = client(policy, "token-b", "node-b").connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> a.names(ADDRESS).size() == 3
                && b.names(ADDRESS).size() == 3 && !a.names(AUTHORIZATION).isEmpty()
                && !b.names(AUTHORIZATION).isEmpty());
        // every address for both; each node only the policies its workloads list
        assertThat(a.names(ADDRESS)).containsExactlyInAnyOrder(UID + "reviews-1", UID + "db-1",
                "shop/reviews.shop.svc.cluster.local");
        assertThat(a.names(AUTHORIZATION)).containsExactly("shop/reviews-only-sleep");
        assertThat(b.names(AUTHORIZATION)).containsExactly("shop/db-deny-curl");
        // maxResourcesPerResponse=2: the 3-address snapshot came in two responses, the second after the ACK
        assertThat(a.responsesOf(ADDRESS)).hasSizeGreaterThanOrEqualTo(2);
        Authorization decoded = a.held.get(AUTHORIZATION).get("shop/reviews-only-sleep").getResource()
                .unpack(Authorization.class);
        assertThat(decoded.getRules(0).getClauses(0).getMatches(0).getPrincipals(0).getExact())
                .isEqualTo("cluster.local/ns/shop/sa/sleep");

        // a change: only the changed resources flow, as a delta
        int before = a.responsesOf(ADDRESS).size();
        writeManifest(manifests.resolve("workloads.yaml"), WORKLOADS.replace("127.0.10.6", "127.0.10.7"));
        await().atMost(Duration.ofSeconds(30)).until(() -> a.responsesOf(ADDRESS).size() > before);
        DeltaDiscoveryResponse delta = a.responsesOf(ADDRESS).get(before);
        assertThat(delta.getResourcesList()).extracting(r -> r.getName()).containsExactly(UID + "db-1");
        assertThat(delta.getRemovedResourcesList()).isEmpty();

        // moving a policy out of reach removes it
        writeManifest(manifests.resolve("policies.yaml"), DB_POLICY);
        await().atMost(Duration.ofSeconds(30)).until(() -> a.names(AUTHORIZATION).isEmpty());
        assertThat(b.names(AUTHORIZATION)).containsExactly("shop/db-deny-curl");
        await().atMost(Duration.ofSeconds(10)).until(() -> acks(policy) >= a.responses.size() + b.responses.size());
    }

    @Test
    void theClusterReachesZtunnelsThroughARunningReplica() throws Exception {
        try (KubernetesApiServer k8s = new KubernetesApiServer()) {
            k8s.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop")
                    .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
            k8s.client().pods().inNamespace("shop").resource(new PodBuilder().withNewMetadata()
                    .withName("reviews-0").withNamespace("shop").addToLabels("app", "reviews").endMetadata()
                    .withNewSpec().withNodeName("node-a").withServiceAccountName("reviews").endSpec().withNewStatus()
                    .withPhase("Running").withPodIP("10.244.1.5").addNewCondition().withType("Ready")
                    .withStatus("True").endCondition().endStatus().build()).create();
            k8s.client().services().inNamespace("shop").resource(new ServiceBuilder().withNewMetadata()
                    .withName("reviews").withNamespace("shop").endMetadata().withNewSpec()
                    .addToSelector("app", "reviews").withClusterIP("10.96.0.10").addNewPort().withPort(80)
                    .withNewTargetPort(9080).endPort().endSpec().build()).create();

            ServiceContext context = ServiceContext.create(vertx);
            // elected, as in the chart: the only replica takes the lease, then lists
            PolicyBootstrap policy = new PolicyBootstrap(config(false, new PolicyConfig.Kubernetes(true, k8s.url(),
                    "", "", Duration.ofSeconds(10), List.of("Namespace", "Pod", "Service"),
                    new PolicyConfig.Kubernetes.LeaderElection(true, "istio-system", "jmesh-policy-kubernetes",
                            "policy-0", Duration.ofSeconds(3), Duration.ofSeconds(2), Duration.ofMillis(250)))),
                    context);
            replicas.add(policy);
            policy.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(60)).until(() -> context.readiness().isReady());

            DeltaAdsTestClient a = client(policy, "token-a", "node-a").connect();
            await().atMost(Duration.ofSeconds(30)).until(() -> a.names(ADDRESS).size() == 2);
            assertThat(a.names(ADDRESS)).containsExactlyInAnyOrder("Kubernetes//Pod/shop/reviews-0",
                    "shop/reviews.shop.svc.cluster.local");

            // a pod scheduled later arrives as a delta
            k8s.client().pods().inNamespace("shop").resource(new PodBuilder().withNewMetadata()
                    .withName("reviews-1").withNamespace("shop").addToLabels("app", "reviews").endMetadata()
                    .withNewSpec().withNodeName("node-b").endSpec().withNewStatus().withPhase("Running")
                    .withPodIP("10.244.2.6").endStatus().build()).create();
            await().atMost(Duration.ofSeconds(30)).until(() -> a.names(ADDRESS)
                    .contains("Kubernetes//Pod/shop/reviews-1"));
            assertThat(k8s.client().leases().inNamespace("istio-system").withName("jmesh-policy-kubernetes").get()
                    .getSpec().getHolderIdentity()).isEqualTo("policy-0");
        }
    }

    @Test
    void aNackedResourceIsReportedAndTheRestStillFlows() throws Exception {
        writeManifest(manifests.resolve("workloads.yaml"), WORKLOADS);
        PolicyBootstrap policy = replica(true);
        await().atMost(Duration.ofSeconds(30)).until(() -> policy.registry().state().addresses().size() == 3);

        DeltaAdsTestClient a = client(policy, "token-a", "node-a").rejecting(name -> name.endsWith("db-1")).connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> a.names(ADDRESS).size() == 2);
        assertThat(a.nacked).containsExactly(UID + "db-1");
        await().atMost(Duration.ofSeconds(10)).until(() -> counter(policy, "policy_xds_nacks") >= 1);

        // the rest still flows; the rejected resource is not resent until it changes
        writeManifest(manifests.resolve("more.yaml"), REVIEWS_POLICY);
        await().atMost(Duration.ofSeconds(30)).until(() -> a.names(AUTHORIZATION).contains("shop/reviews-only-sleep"));
        assertThat(a.nacked).containsExactly(UID + "db-1");
    }

    @Test
    void reconnectingWithInitialVersionsReceivesOnlyTheDiff() throws Exception {
        writeManifest(manifests.resolve("workloads.yaml"), WORKLOADS);
        writeManifest(manifests.resolve("policies.yaml"), REVIEWS_POLICY);
        PolicyBootstrap policy = replica(true);
        await().atMost(Duration.ofSeconds(30)).until(() -> policy.registry().state().authorizations().size() == 1);
        DeltaAdsTestClient first = client(policy, "token-a", "node-a").connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> first.names(ADDRESS).size() == 3
                && first.names(AUTHORIZATION).size() == 1);
        first.disconnect();
        first.ended.get(10, TimeUnit.SECONDS);

        // while disconnected: db-1 moves, the policy goes away, a service appears
        writeManifest(manifests.resolve("workloads.yaml"), WORKLOADS.replace("127.0.10.6", "127.0.10.9"));
        Files.delete(manifests.resolve("policies.yaml"));
        // (a removed file is deleted at once; a changed one once it has settled)
        await().atMost(Duration.ofSeconds(30)).until(() -> policy.registry().state().authorizations().isEmpty()
                && "127.0.10.9".equals(policy.registry().snapshot().get(ConfigKey.parse("WorkloadEntry/shop/db-1"))
                        .getWorkloadEntry().getAddress()));

        DeltaAdsTestClient again = client(policy, "token-a", "node-a").holding(first).connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> again.responsesOf(ADDRESS).size() >= 1
                && again.responsesOf(AUTHORIZATION).size() >= 1);
        DeltaDiscoveryResponse addresses = again.responsesOf(ADDRESS).get(0);
        // db-1 moved; reviews-1 no longer lists the deleted policy; the unchanged service is not resent
        assertThat(addresses.getResourcesList()).extracting(r -> r.getName())
                .containsExactlyInAnyOrder(UID + "db-1", UID + "reviews-1");
        assertThat(again.responsesOf(AUTHORIZATION).get(0).getRemovedResourcesList())
                .containsExactly("shop/reviews-only-sleep");
        assertThat(again.responsesOf(AUTHORIZATION).get(0).getResourcesList()).isEmpty();
    }

    @Test
    void twoReplicasServeIdenticalStateAndARestartReplays() throws Exception {
        writeManifest(manifests.resolve("workloads.yaml"), WORKLOADS);
        writeManifest(manifests.resolve("policies.yaml"), REVIEWS_POLICY + "---\n" + DB_POLICY);
        PolicyBootstrap one = replica(true);
        await().atMost(Duration.ofSeconds(30)).until(() -> one.registry().state().authorizations().size() == 2
                && one.registry().state().addresses().size() == 3);
        PolicyBootstrap two = replica(false);

        DeltaAdsTestClient viaOne = client(one, "token-a", "node-a").connect();
        DeltaAdsTestClient viaTwo = client(two, "token-a", "node-a").connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> viaOne.names(ADDRESS).size() == 3
                && viaTwo.names(ADDRESS).size() == 3 && viaOne.names(AUTHORIZATION).size() == 1
                && viaTwo.names(AUTHORIZATION).size() == 1);
        assertThat(viaTwo.versions(ADDRESS)).isEqualTo(viaOne.versions(ADDRESS));
        assertThat(viaTwo.versions(AUTHORIZATION)).isEqualTo(viaOne.versions(AUTHORIZATION));

        // restart the second replica: replay gives the same state, a reconnecting client gets nothing new
        replicas.remove(two);
        two.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        PolicyBootstrap restarted = replica(false);
        DeltaAdsTestClient back = client(restarted, "token-a", "node-a").holding(viaTwo).connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> back.responsesOf(ADDRESS).size() >= 1
                && back.responsesOf(AUTHORIZATION).size() >= 1);
        assertThat(back.responsesOf(ADDRESS).get(0).getResourcesCount()).isZero();
        assertThat(back.responsesOf(ADDRESS).get(0).getRemovedResourcesCount()).isZero();
        assertThat(back.versions(ADDRESS)).isEqualTo(viaOne.versions(ADDRESS));
    }

    @Test
    void streamsAreAuthenticatedAsTheirNode() throws Exception {
        PolicyBootstrap policy = replica(false);
        DeltaAdsTestClient stranger = client(policy, "no-such-token", "node-a").connect();
        assertThat(stranger.ended.get(30, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.UNAUTHENTICATED);
        DeltaAdsTestClient impostor = client(policy, "token-b", "node-a").connect();
        assertThat(impostor.ended.get(30, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.PERMISSION_DENIED);
        await().atMost(Duration.ofSeconds(10)).until(() -> counter(policy, "policy_xds_streams_refused") == 2);
    }

    @Test
    void aCompressedStreamIsRefusedBeforeVertxInflatesIt() throws Exception {
        // Vert.x inflates gzip messages without a bound, before the 64 MiB message limit: ~64 GiB of heap at worst
        PolicyBootstrap policy = replica(false);
        DeltaAdsTestClient zipped = client(policy, "token-a", "node-a").compressed().connect();
        assertThat(zipped.ended.get(30, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.UNIMPLEMENTED);
        assertThat(counter(policy, "policy_grpc_calls_refused")).isEqualTo(1);
        assertThat(counter(policy, "policy_xds_streams_refused")).isZero();
        DeltaAdsTestClient plain = client(policy, "token-a", "node-a").connect();
        await().atMost(Duration.ofSeconds(30)).until(() -> !plain.responses.isEmpty());
    }

    static double acks(PolicyBootstrap p) {
        return counter(p, "policy_xds_acks") + counter(p, "policy_xds_nacks");
    }

    static double counter(PolicyBootstrap p, String name) {
        return p.metricsForTest().scrape().stream().filter(m -> m.getMetadata().getName().equals(name))
                .flatMap(m -> m.getDataPoints().stream())
                .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d)
                        .getValue()).sum();
    }
}
