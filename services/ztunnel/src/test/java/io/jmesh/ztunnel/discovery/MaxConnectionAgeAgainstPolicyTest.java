package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.policy.PolicyConfig;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.testing.mesh.SyntheticMesh;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * policy's real server (TLS, reviewed token) sends a connection past {@code xds.maxConnectionAge} GOAWAY and closes
 * it after the grace, as istiod does so ztunnels spread over the replicas; ztunnel's real discovery client, over
 * the channel ztunnel uses, reconnects, announcing what it holds, and serves its configuration throughout.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class MaxConnectionAgeAgainstPolicyTest {

    static final String NODE = "node-0";
    static final String TOKEN = "token-node-0";
    static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    Vertx policyVertx;
    Vertx ztunnelVertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    PolicyChannel channel;
    DeltaAdsClient client;
    WorkloadStore store;
    PrometheusRegistry metrics = new PrometheusRegistry();

    @BeforeEach
    void setUp() throws Exception {
        policyVertx = Vertx.vertx();
        ztunnelVertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(policyVertx, pki).nodeToken(TOKEN, NODE);
        policy = new AdsServerHarness(policyVertx, pki, tokenReview, 2000).connections(
                new PolicyConfig.Xds("127.0.0.1", 0, "", "", 2000, Duration.ofSeconds(10),
                        PolicyConfig.Xds.Admission.DEFAULT, null, null, Duration.ofSeconds(2), Duration.ofMillis(300)));
        policy.apply(new SyntheticMesh(100, 10, 10, 10, 10).records());
        int port = policy.start(0);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_NODE_NAME", NODE, "MESH_DISCOVERY_INITIAL_BACKOFF", "50ms",
                "MESH_DISCOVERY_MAX_BACKOFF", "500ms", "MESH_DISCOVERY_ROOT_CERT_FILE", pki.rootPem.toString()))
                .config();
        store = new WorkloadStore();
        channel = PolicyChannel.open(ztunnelVertx, config.discovery(), metrics);
        client = new DeltaAdsClient(ztunnelVertx, channel.grpc(), SocketAddress.inetSocketAddress(port, "127.0.0.1"),
                () -> TOKEN, config, store, new RetainedPolicies(), metrics);
    }

    @AfterEach
    void tearDown() throws Exception {
        client.stop();
        channel.close();
        policy.close();
        tokenReview.close();
        for (Vertx v : new Vertx[] {ztunnelVertx, policyVertx}) {
            v.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void anAgedConnectionIsSentAwayAndDiscoveryResubscribesOnANewOneKeepingItsConfiguration() throws Exception {
        client.start();
        int addresses = policy.state().addresses().size();
        await().atMost(WAIT).until(() -> client.firstFullSync().isComplete()
                && client.versions().get(DeltaAdsClient.ADDRESS_TYPE).size() == addresses);
        int held = store.current().resources().size();
        assertThat(held).isPositive();

        // two subscriptions per stream: a third is the resubscription on a new connection after the GOAWAY
        await("a resubscription after the aged connection went").atMost(WAIT)
                .until(() -> policy.subscriptions().size() >= 4);
        assertThat(policy.subscriptions().get(2).initialResourceVersions()).isNotEmpty();
        assertThat(store.current().resources()).hasSize(held);
        await().atMost(WAIT).until(() -> policy.streams() == 1);
        // a GOAWAY is a reconnect, as Istio's ztunnel counts it, not an error that doubles the backoff
        assertThat(terminations("reconnect")).as("streams ended by the server's GOAWAY").isPositive();
        assertThat(terminations("error")).as("streams ended in error").isZero();
    }

    private double terminations(String reason) {
        return metrics.scrape().stream().filter(m -> m.getMetadata().getPrometheusName()
                .equals("istio_xds_connection_terminations")).flatMap(m -> m.getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason")))
                .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d)
                        .getValue()).sum();
    }
}
