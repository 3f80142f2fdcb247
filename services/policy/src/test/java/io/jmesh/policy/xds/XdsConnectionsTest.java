package io.jmesh.policy.xds;

import static io.jmesh.policy.testing.DeltaAdsTestClient.ADDRESS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.policy.PolicyConfig;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.testing.net.BlackholeRelay;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * policy's gRPC port treats connections as istiod's keepalive options do, over the real server (TLS, reviewed
 * tokens): a ztunnel that went silent without closing anything (behind a relay that blackholes its connection) is
 * dropped, its stream released; a connection past {@code xds.maxConnectionAge} is sent GOAWAY and closed after the
 * grace, so its ztunnel reconnects (to any replica).
 */
@Timeout(90)
class XdsConnectionsTest {

    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    Vertx vertx;
    TestPki pki;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    BlackholeRelay relay;
    final List<DeltaAdsTestClient> clients = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki);
        tokenReview.nodeToken("token-a", "node-a");
        policy = new AdsServerHarness(vertx, pki, tokenReview, 1000);
        policy.apply(new ManifestReader("istio-system").read(OnDemandAdsTest.MESH).stream()
                .map(ParsedObject::record).toList());
    }

    @AfterEach
    void tearDown() throws Exception {
        clients.forEach(DeltaAdsTestClient::close);
        if (relay != null) {
            relay.close();
        }
        policy.close();
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    static PolicyConfig.Xds xds(Duration keepaliveInterval, Duration keepaliveTimeout, Duration maxConnectionAge,
            Duration grace) {
        return new PolicyConfig.Xds("127.0.0.1", 0, "", "", 1000, Duration.ofSeconds(10),
                PolicyConfig.Xds.Admission.DEFAULT, keepaliveInterval, keepaliveTimeout, maxConnectionAge, grace);
    }

    DeltaAdsTestClient client(int port) {
        DeltaAdsTestClient c = new DeltaAdsTestClient(vertx, pki, port, "token-a", "node-a");
        clients.add(c);
        return c;
    }

    @Test
    void aSilentZtunnelsConnectionIsClosedAndItsStreamReleased() throws Exception {
        policy.connections(xds(Duration.ofMillis(300), Duration.ofSeconds(1), Duration.ofHours(1), Duration.ZERO))
                .start(0);
        relay = BlackholeRelay.to("127.0.0.1", policy.port());
        DeltaAdsTestClient ztunnel = client(relay.port()).connect();
        await().atMost(WAIT).until(() -> !ztunnel.responsesOf(ADDRESS).isEmpty());
        // PINGs answered for several intervals: a live ztunnel stays
        Thread.sleep(1500);
        assertThat(policy.streams()).isEqualTo(1);

        relay.blackhole();
        await("the blackholed ztunnel's stream released").atMost(WAIT).until(() -> policy.streams() == 0);
        assertThat(policy.gauge("policy_xds_streams")).isZero();
        assertThat(policy.counter("policy_grpc_keepalive_timeouts", "peer", "client")).isEqualTo(1);
    }

    @Test
    void aConnectionPastItsMaximumAgeIsSentAwayAndItsZtunnelSyncsAgainOnANewOne() throws Exception {
        policy.connections(xds(Duration.ofSeconds(30), Duration.ofSeconds(10), Duration.ofSeconds(1),
                Duration.ofMillis(500))).start(0);
        DeltaAdsTestClient ztunnel = client(policy.port()).connect();
        await().atMost(WAIT).until(() -> ztunnel.names(ADDRESS).equals(policy.state().addresses().keySet()));

        await("the aged connection's stream ended").atMost(WAIT).until(() -> ztunnel.ended.isDone());
        await().atMost(WAIT).until(() -> policy.streams() == 0);
        DeltaAdsTestClient again = client(policy.port()).holding(ztunnel).connect();
        await().atMost(WAIT).until(() -> policy.streams() == 1 && !again.responsesOf(ADDRESS).isEmpty());
        assertThat(again.names(ADDRESS)).isEqualTo(policy.state().addresses().keySet());
    }
}
