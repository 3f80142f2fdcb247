package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel skips policy keys it does not hold (allowing what they would forbid), so a workload of this node must never
 * be applied before the policies it lists; policy orders its pushes so, but on a (re)connect each type is answered as
 * its subscription arrives. A ztunnel reconnecting after a policy came in while its stream was down, with a workload
 * of its node now listing it, must receive the policy before the workload.
 */
@Timeout(120)
class ReconnectPolicyOrderTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final String DB = """
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: db-1, namespace: shop}
            spec: {address: 127.0.10.6, labels: {app: db}, node: node-a, serviceAccount: db}
            """;
    static final String DENY = """
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
    Vertx policyVertx;
    Vertx ztunnelVertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    DeltaAdsClient client;
    int port;
    final WorkloadStore store = new WorkloadStore();
    final Map<String, Authorization> held = new ConcurrentHashMap<>();
    final List<String> unknownKeys = new CopyOnWriteArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        policyVertx = Vertx.vertx();
        ztunnelVertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(policyVertx, pki).nodeToken("token-a", "node-a");
        policy = new AdsServerHarness(policyVertx, pki, tokenReview, 100);
        policy.apply(records(DB));
        port = policy.start(0);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_NODE_NAME", "node-a", "MESH_DISCOVERY_INITIAL_BACKOFF", "50ms",
                "MESH_DISCOVERY_MAX_BACKOFF", "200ms")).config();
        AuthorizationStore policies = new AuthorizationStore() {
            @Override
            public void apply(Collection<Authorization> upserts, Collection<String> removedNames) {
                upserts.forEach(a -> held.put(a.getNamespace() + "/" + a.getName(), a));
                removedNames.forEach(held::remove);
            }

            @Override
            public void replaceAll(Collection<Authorization> all) {
                held.clear();
                apply(all, List.of());
            }

            @Override
            public void onChange(Runnable listener) {
            }
        };
        // every workload of this node, as it is applied, must list only policies the ztunnel holds already
        store.onChange((before, after) -> {
            for (Workload w : after.workloadsOnNode("node-a")) {
                w.getAuthorizationPoliciesList().stream().filter(k -> !held.containsKey(k))
                        .forEach(k -> unknownKeys.add(w.getName() + " lists " + k));
            }
        });
        client = new DeltaAdsClient(ztunnelVertx, DeltaAdsClient.grpcClient(ztunnelVertx, pki.rootPem.toString()),
                SocketAddress.inetSocketAddress(port, "127.0.0.1"), () -> "token-a", config, store, policies,
                new PrometheusRegistry());
    }

    @AfterEach
    void tearDown() throws Exception {
        client.stop();
        policy.close();
        tokenReview.close();
        for (Vertx v : new Vertx[] {ztunnelVertx, policyVertx}) {
            v.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    static List<ConfigRecord> records(String yaml) {
        return new ManifestReader("istio-system").read(yaml).stream().map(ParsedObject::record).toList();
    }

    @Test
    void aPolicyThatCameWhileTheStreamWasDownArrivesBeforeTheWorkloadListingIt() throws Exception {
        client.start();
        await().atMost(WAIT).until(() -> client.firstFullSync().isComplete()
                && store.current().workloadsOnNode("node-a").size() == 1);

        // the replica goes away; meanwhile a DENY policy selecting db-1 comes in
        policy.stop();
        policy.apply(records(DENY));

        assertThat(policy.start(port)).isEqualTo(port);
        await().atMost(WAIT).until(() -> held.containsKey("shop/db-deny-curl") && store.current()
                .workloadsOnNode("node-a").get(0).getAuthorizationPoliciesList().contains("shop/db-deny-curl"));
        assertThat(unknownKeys).as("workloads applied before the policies they list").isEmpty();
    }
}
