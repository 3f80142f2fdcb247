package io.jmesh.policy.xds;

import static io.jmesh.policy.testing.DeltaAdsTestClient.ADDRESS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A replica listens before its config log is replayed (its state is still {@link MeshState#EMPTY}, as
 * {@code PolicyBootstrap} creates the server). A ztunnel reconnecting then must not be told that everything it holds
 * is gone: istiod refuses streams until it is ready for the same reason ("reconnected Envoys losing configuration").
 */
@Timeout(120)
class NotServingBeforeTheFirstStateTest {

    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;
    Vertx vertx;
    TestPki pki;
    FakeTokenReview tokenReview;
    AdsServerHarness before;
    AdsServerHarness restarted;
    DeltaAdsTestClient first;
    DeltaAdsTestClient again;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki).nodeToken("token-a", "node-a");
        before = new AdsServerHarness(vertx, pki, tokenReview, 100);
        restarted = new AdsServerHarness(vertx, pki, tokenReview, 100);
    }

    @AfterEach
    void tearDown() throws Exception {
        for (DeltaAdsTestClient c : new DeltaAdsTestClient[] {first, again}) {
            if (c != null) {
                c.close();
            }
        }
        before.close();
        restarted.close();
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    static List<io.jmesh.proto.config.v1.ConfigRecord> mesh() {
        return new ManifestReader("istio-system").read(OnDemandAdsTest.MESH).stream().map(ParsedObject::record)
                .toList();
    }

    @Test
    void aReconnectBeforeTheReplayIsRefusedRetryablyAndKeepsWhatTheZtunnelHolds() throws Exception {
        before.apply(mesh());
        before.start(0);
        first = new DeltaAdsTestClient(vertx, pki, before.port(), "token-a", "node-a").connect();
        await().atMost(WAIT).until(() -> first.names(ADDRESS).size() == before.state().addresses().size());
        Set<String> held = first.names(ADDRESS);
        first.disconnect();
        before.stop();

        // a replica still replaying: its server serves MeshState.EMPTY, no state built from the log yet
        restarted.start(0);
        again = new DeltaAdsTestClient(vertx, pki, restarted.port(), "token-a", "node-a").holding(first).connect();
        await().atMost(WAIT).until(() -> again.ended.isDone() || !again.responsesOf(ADDRESS).isEmpty());
        assertThat(again.names(ADDRESS)).as("what the ztunnel holds after a stream to a replica not yet replayed")
                .isEqualTo(held);
        assertThat(again.responses).isEmpty();
        // retryable: ztunnel backs off and comes back
        assertThat(again.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.UNAVAILABLE);
        assertThat(restarted.streams()).isZero();

        // replayed: served, only what differs (nothing)
        restarted.apply(mesh());
        DeltaAdsTestClient third = new DeltaAdsTestClient(vertx, pki, restarted.port(), "token-a", "node-a")
                .holding(again).connect();
        try {
            await().atMost(WAIT).until(() -> third.responsesOf(ADDRESS).size() >= 1);
            assertThat(third.names(ADDRESS)).isEqualTo(held);
            assertThat(third.responsesOf(ADDRESS).get(0).getResourcesList()).isEmpty();
            assertThat(third.responsesOf(ADDRESS).get(0).getRemovedResourcesList()).isEmpty();
        } finally {
            third.close();
        }
    }
}
