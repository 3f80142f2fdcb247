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
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A subscription to a type discovery does not serve, over the real server: answered once, empty (as istiod
 * answers it), so a client waiting for it goes on; the client's ACK of that answer is not answered again.
 */
@Timeout(120)
class UnservedTypeOverGrpcTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final String CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

    @TempDir
    Path dir;
    Vertx vertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    DeltaAdsTestClient client;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki).nodeToken("token-a", "node-a");
        policy = new AdsServerHarness(vertx, pki, tokenReview, 100);
        policy.apply(new ManifestReader("istio-system").read(OnDemandAdsTest.MESH).stream()
                .map(ParsedObject::record).toList());
        client = new DeltaAdsTestClient(vertx, pki, policy.start(0), "token-a", "node-a").connect();
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
    void aTypeNotServedIsAnsweredOnceWithNothingAndItsAckIsNotAnswered() {
        await().atMost(WAIT).until(() -> client.responsesOf(ADDRESS).size() == 1
                && client.responsesOf(AUTHORIZATION).size() == 1);

        client.subscribe(CLUSTER, "outbound|80||reviews.shop.svc.cluster.local");
        await().atMost(WAIT).until(() -> client.responsesOf(CLUSTER).size() == 1);
        DeltaDiscoveryResponse answer = client.responsesOf(CLUSTER).get(0);
        assertThat(answer.getResourcesList()).isEmpty();
        assertThat(answer.getRemovedResourcesList()).containsExactly("outbound|80||reviews.shop.svc.cluster.local");

        // two more round trips on the same stream: the client's ACK of the answer went before the second, so an
        // answer to that ACK would arrive before the second one's response
        for (int i = 2; i <= 3; i++) {
            int expected = i;
            client.subscribe(ADDRESS, "shop/not-there-" + i);
            await().atMost(WAIT).until(() -> client.responsesOf(ADDRESS).size() == expected);
        }
        assertThat(client.responsesOf(CLUSTER)).as("the ACK was not answered").hasSize(1);
        assertThat(client.ended).isNotDone();
    }
}
