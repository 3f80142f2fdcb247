package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The identity manager against a CreateCertificate server signing with Bouncy Castle ({@link TestCa}, standing in
 * for the ca service built on another branch), with an injected clock for rotation.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IdentityManagerTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    Vertx vertx;
    TestCa ca;
    IdentityManager manager;
    final AtomicReference<Instant> now = new AtomicReference<>(Instant.now());
    final Clock clock = new Clock() {
        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now.get();
        }
    };

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "t");
        ca.now = now::get;
        int port = ca.start().toCompletionStage().toCompletableFuture().get();
        CaClient client = new GrpcCaClient(vertx, GrpcClient.client(vertx),
                SocketAddress.inetSocketAddress(port, "127.0.0.1"), () -> "t", "Kubernetes", Duration.ofSeconds(30));
        manager = new IdentityManager(vertx, client, new TrustBundle(),
                new IdentityManager.Settings(Duration.ofHours(24), 8, Duration.ofMillis(50), Duration.ofSeconds(1),
                        "cluster.local"), clock, new PrometheusRegistry());
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void prefetchesLocalIdentitiesWithImpersonationAndAdoptsTheCaRoot() throws Exception {
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> manager.current(SLEEP) != null);
        WorkloadCertificate c = manager.current(SLEEP);
        assertThat(Certificates.spiffeId(c.leaf())).isEqualTo(SLEEP);
        assertThat(c.leaf().getPublicKey().getAlgorithm()).isEqualTo("EC");
        assertThat(ca.impersonated).containsExactly(SLEEP.uri());
        assertThat(manager.allWantedReady().toCompletionStage().toCompletableFuture().get()).isTrue();
    }

    @Test
    void refreshesAtHalfLifeAndKeepsServingThroughACaOutage() throws Exception {
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> manager.current(SLEEP) != null);
        WorkloadCertificate first = manager.current(SLEEP);
        // before half-life: nothing happens
        now.set(now.get().plus(Duration.ofHours(11)));
        assertThat(manager.tick().toCompletionStage().toCompletableFuture().get()).isZero();
        assertThat(manager.current(SLEEP).serial()).isEqualTo(first.serial());
        // past half-life (+ at most 5 % jitter) with the CA down: the old certificate keeps serving
        ca.failWith.set("ca is down");
        now.set(now.get().plus(Duration.ofHours(3)));
        int before = ca.requests.get();
        manager.tick();
        await().until(() -> ca.requests.get() > before);
        assertThat(manager.current(SLEEP).serial()).isEqualTo(first.serial());
        // CA back: the retry, due when the backoff (at most 1 s plus jitter here) has passed, rotates it
        ca.failWith.set(null);
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            now.set(now.get().plus(Duration.ofSeconds(2)));
            manager.tick();
            return !manager.current(SLEEP).serial().equals(first.serial());
        });
        assertThat(manager.current(SLEEP).notBefore()).isAfter(first.notBefore());
    }

    @Test
    void atMostEightCsrsInFlight() {
        ca.delayMillis = 300;
        Set<SpiffeId> many = new HashSet<>();
        for (int i = 0; i < 20; i++) {
            many.add(SpiffeId.of("cluster.local", "default", "sa-" + i));
        }
        manager.setLocalIdentities(many);
        await().atMost(Duration.ofSeconds(20)).until(() -> manager.all().size() == 20);
        assertThat(ca.maxInFlight.get()).isBetween(1, 8);
    }

    @Test
    void forgetsIdentitiesWhoseWorkloadsLeft() {
        SpiffeId other = SpiffeId.of("cluster.local", "default", "other");
        manager.setLocalIdentities(Set.of(SLEEP, other));
        await().until(() -> manager.all().size() == 2);
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> manager.all().keySet().equals(Set.of(SLEEP)));
    }

    @Test
    void aConnectionCanAskForAnIdentityThatIsNotPrefetched() throws Exception {
        WorkloadCertificate c = manager.certificate(SLEEP).toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        assertThat(c.identity()).isEqualTo(SLEEP);
    }
}
