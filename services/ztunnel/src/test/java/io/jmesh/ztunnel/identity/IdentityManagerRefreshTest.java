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
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A certificate a connection fetched while its identity was not local (discovery had not named the workload yet, or
 * it had just left) is refreshed at half-life like any other once the identity is local: nothing else would renew
 * it before it expires. The clock is injected; refreshes are driven by {@link IdentityManager#tick()}.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IdentityManagerRefreshTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    final MutableClock clock = new MutableClock(Instant.now());
    Vertx vertx;
    ScriptedCa ca;
    IdentityManager manager;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        TestCa signer = new TestCa(vertx, "t");
        signer.now = clock::instant;
        ca = new ScriptedCa(signer);
        manager = new IdentityManager(vertx, ca, new TrustBundle(),
                new IdentityManager.Settings(Duration.ofHours(24), 8, Duration.ofMillis(500), Duration.ofSeconds(150),
                        "cluster.local"), clock, new PrometheusRegistry());
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aCertificateFetchedForAConnectionBeforeTheIdentityWasLocalIsRefreshedAtHalfLife() throws Exception {
        WorkloadCertificate first = get(manager.certificate(SLEEP));
        manager.setLocalIdentities(Set.of(SLEEP));
        settle();
        assertRefreshedAtHalfLife(first);
    }

    /** A pod replaced on the same node: its identity leaves while a connection waits for the fetch, then returns. */
    @Test
    void aCertificateWhoseIdentityLeftDuringTheFetchAndCameBackIsRefreshedAtHalfLife() throws Exception {
        ca.hold = true;
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> ca.held.size() == 1); // the prefetch is at the CA
        Future<WorkloadCertificate> waiting = manager.certificate(SLEEP); // a connection joins it
        settle();
        manager.setLocalIdentities(Set.of()); // the pod leaves
        settle();
        ca.hold = false;
        ca.held.remove().run(); // the CA answers: the waiting connection gets the certificate
        WorkloadCertificate first = get(waiting);
        assertThat(manager.current(SLEEP)).isEqualTo(first);
        manager.setLocalIdentities(Set.of(SLEEP)); // the pod (or its replacement) is back
        settle();
        assertRefreshedAtHalfLife(first);
    }

    private void assertRefreshedAtHalfLife(WorkloadCertificate first) throws Exception {
        int before = ca.requests.get();
        clock.set(first.notBefore().plus(Duration.ofHours(11))); // before half-life: nothing is due
        assertThat(get(manager.tick())).isZero();
        clock.set(first.notBefore().plus(Duration.ofHours(14))); // past half-life plus the 5 % jitter
        assertThat(get(manager.tick())).as("refreshes queued").isEqualTo(1);
        await().until(() -> !manager.current(SLEEP).serial().equals(first.serial()));
        assertThat(ca.requests.get()).isEqualTo(before + 1);
    }

    /** Waits until the manager's context has run everything asked of it so far. */
    private void settle() throws Exception {
        get(manager.allWantedReady());
    }

    private static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
