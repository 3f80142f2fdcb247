package io.jmesh.policy.xds;

import static io.jmesh.policy.testing.DeltaAdsTestClient.ADDRESS;
import static io.jmesh.policy.testing.DeltaAdsTestClient.AUTHORIZATION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.istio.workload.Address;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An on-demand subscription over the real server (gRPC over TLS, a reviewed token): the alias travels in the wire
 * {@code Resource.aliases}, the workload is kept up to date, and Authorization stays wildcard beside it.
 */
@Timeout(120)
class OnDemandOverGrpcTest {

    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;
    Vertx vertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    DeltaAdsTestClient client;
    final ManifestReader reader = new ManifestReader("istio-system");

    List<ConfigRecord> records(String yaml) {
        return reader.read(yaml).stream().map(ParsedObject::record).toList();
    }

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki).nodeToken("token-a", "node-a");
        policy = new AdsServerHarness(vertx, pki, tokenReview, 100);
        policy.apply(records(OnDemandAdsTest.MESH));
        int port = policy.start(0);
        client = new DeltaAdsTestClient(vertx, pki, port, "token-a", "node-a").onDemand().connect();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close();
        }
        policy.close();
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    @Test
    void anAliasSubscribedOverTheWireComesBackUnderItsCanonicalNameAndStaysUpToDate() throws Exception {
        await().atMost(WAIT).until(() -> client.responsesOf(ADDRESS).size() == 1
                && client.responsesOf(AUTHORIZATION).size() == 1);
        assertThat(client.names(ADDRESS)).isEmpty();
        assertThat(client.names(AUTHORIZATION)).as("never on demand").containsExactly("istio-system/mesh-wide");

        // the first IP lookup: the state has no network/IP index yet, a worker builds it, then the answer
        assertThat(policy.state().ipIndexReady()).isFalse();
        client.subscribe(ADDRESS, "/127.0.10.1");
        await().atMost(WAIT).until(() -> client.responsesOf(ADDRESS).size() == 2);
        DeltaDiscoveryResponse answer = client.responsesOf(ADDRESS).get(1);
        assertThat(answer.getResourcesList()).singleElement().satisfies(r -> {
            assertThat(r.getName()).isEqualTo(OnDemandAdsTest.UID + "w1");
            assertThat(r.getAliasesList()).containsExactly("/127.0.10.1");
        });
        assertThat(policy.state().ipIndexReady()).isTrue();

        client.subscribe(ADDRESS, "/127.0.10.50");
        await().atMost(WAIT).until(() -> client.responsesOf(ADDRESS).size() == 3);
        assertThat(client.responsesOf(ADDRESS).get(2).getRemovedResourcesList()).containsExactly("/127.0.10.50");

        policy.apply(records(OnDemandAdsTest.entry("shop", "w1", "127.0.10.1", "serviceAccount: reviews")
                + "---\n" + OnDemandAdsTest.entry("shop", "late", "127.0.10.50", null)));
        assertThat(policy.state().ipIndexReady()).as("wanted now: indexed before it is published").isTrue();
        await().atMost(WAIT).until(() -> client.names(ADDRESS).size() == 2
                && "reviews".equals(Address.parseFrom(client.held.get(ADDRESS).get(OnDemandAdsTest.UID + "w1")
                        .getResource().getValue()).getWorkload().getServiceAccount()));
        assertThat(client.names(ADDRESS)).containsExactlyInAnyOrder(OnDemandAdsTest.UID + "w1",
                OnDemandAdsTest.UID + "late");
        assertThat(client.held.get(ADDRESS).get(OnDemandAdsTest.UID + "late").getAliasesList())
                .containsExactly("/127.0.10.50");
        assertThat(policy.counter("policy_xds_nacks", "type_url", ADDRESS)).isZero();
    }
}
