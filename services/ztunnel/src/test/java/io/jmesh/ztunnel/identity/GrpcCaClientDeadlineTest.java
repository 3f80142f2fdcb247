package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.testing.MutableClock;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code identity.csrTimeout}: a CreateCertificate call the CA accepts and never answers fails at its deadline, its
 * stream is cancelled and a late answer changes nothing, so a hung CA cannot hold the identity manager's CSR slots
 * for good. The deadline is long enough for an answered call on loopback never to reach it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcCaClientDeadlineTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");
    static final Duration DEADLINE = Duration.ofSeconds(5); // an answered call must fit in it on a loaded 2-core machine
    static final Duration TTL = Duration.ofHours(24);

    final MutableClock clock = new MutableClock(Instant.now());
    Vertx vertx;
    TestCa ca;
    int port;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "t");
        ca.now = clock::instant;
        port = get(ca.start());
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aCallTheCaNeverAnswersFailsAtTheDeadlineAndItsStreamIsCancelled() throws Exception {
        ca.hold = true;
        Future<List<String>> call = client(port).createCertificate(csr(), SLEEP, TTL);
        await().until(call::isComplete);
        assertThat(call.cause()).hasMessageContaining("ca did not answer within 5000 ms");
        await().until(() -> ca.cancelled.get() == 1);
    }

    @Test
    void anAnswerAfterTheDeadlineIsDroppedAndTheClientKeepsWorking() throws Exception {
        CaClient client = client(port);
        assertThat(get(client.createCertificate(csr(), SLEEP, TTL))).hasSize(2); // connected
        ca.hold = true;
        Future<List<String>> late = client.createCertificate(csr(), SLEEP, TTL);
        await().until(late::isComplete);
        await().until(() -> ca.cancelled.get() == 1);
        ca.hold = false;
        ca.held.remove().run(); // the CA answers after all
        assertThat(get(client.createCertificate(csr(), SLEEP, TTL))).hasSize(2);
        assertThat(late.cause()).hasMessageContaining("ca did not answer");
    }

    /** The deadline covers connecting too: a peer that accepts TCP and never speaks HTTP/2. */
    @Test
    void aCaThatAcceptsTheConnectionButNeverSpeaksFailsAtTheDeadline() throws Exception {
        NetServer mute = vertx.createNetServer().connectHandler(socket -> { });
        int mutePort = get(mute.listen(0, "127.0.0.1")).actualPort();
        Future<List<String>> call = client(mutePort).createCertificate(csr(), SLEEP, TTL);
        await().until(call::isComplete);
        assertThat(call.cause()).hasMessageContaining("ca did not answer within 5000 ms");
    }

    /**
     * As many hung CSRs as the manager has slots: each fails at the deadline, so an identity that arrives later
     * is still fetched, and the hung identities are fetched again once their backoff ends.
     */
    @Test
    void hungCsrsFreeTheirSlotsAtTheDeadline() throws Exception {
        IdentityManager manager = new IdentityManager(vertx, client(port), new TrustBundle(),
                new IdentityManager.Settings(TTL, 8, Duration.ofMillis(500), Duration.ofSeconds(150),
                        "cluster.local"), clock, new PrometheusRegistry());
        ca.hold = true; // the CA takes the requests and never answers
        Set<SpiffeId> hung = new HashSet<>();
        for (int i = 0; i < 8; i++) {
            hung.add(SpiffeId.of("cluster.local", "default", "hung-" + i));
        }
        manager.setLocalIdentities(hung);
        await().until(() -> ca.held.size() == 8);
        ca.hold = false; // the CA is healthy again
        SpiffeId later = SpiffeId.of("cluster.local", "default", "later");
        Set<SpiffeId> all = new HashSet<>(hung);
        all.add(later);
        manager.setLocalIdentities(all);
        await().atMost(Duration.ofSeconds(20)).until(() -> manager.current(later) != null);
        await().until(() -> ca.cancelled.get() == 8);
        assertThat(hung).allSatisfy(id -> assertThat(manager.current(id)).isNull());
        clock.advance(Duration.ofMillis(750)); // past the first backoff and its jitter
        manager.tick();
        await().until(() -> get(manager.allWantedReady()));
    }

    private GrpcCaClient client(int caPort) {
        return new GrpcCaClient(vertx, GrpcClient.client(vertx), SocketAddress.inetSocketAddress(caPort, "127.0.0.1"),
                () -> "t", "Kubernetes", DEADLINE);
    }

    private static String csr() throws Exception {
        return IdentityManager.Csr.create(SLEEP).pem();
    }

    private static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
