package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
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
 * The wall clock stepped backwards (NTP correcting a node that ran ahead, a VM restored from a snapshot). Istio's
 * ztunnel measures its backoff on a monotonic clock, so a step changes nothing there; here neither a backoff nor a
 * held certificate may be stranded by it. The clock is injected and only the test moves it.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IdentityManagerClockJumpTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");
    static final Duration JUMP = Duration.ofHours(1);

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

    /** A 0.5 s backoff taken before the step must not turn into an hour of refused connections after it. */
    @Test
    void aBackoffTakenBeforeTheClockSteppedBackDoesNotLastTheSizeOfTheStep() throws Exception {
        ca.failWith = "ca unavailable";
        assertThatThrownBy(() -> get(manager.certificate(SLEEP))).rootCause().hasMessage("ca unavailable");
        ca.failWith = null;
        clock.advance(JUMP.negated());
        assertThat(get(manager.certificate(SLEEP)).identity()).isEqualTo(SLEEP);
        assertThat(ca.requests.get()).isEqualTo(2);
    }

    /**
     * Stepped back to before the held certificate's notBefore: the certificate is not valid any more (peers would
     * refuse it too), so the next refresh pass fetches a new one instead of waiting for the old half-life.
     */
    @Test
    void aCertificateTheClockSteppedBackBeforeIsReplacedByTheNextRefreshPass() throws Exception {
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> manager.current(SLEEP) != null);
        WorkloadCertificate first = manager.current(SLEEP);
        clock.set(first.notBefore().minus(JUMP));
        assertThat(manager.current(SLEEP)).isNull();
        assertThat(get(manager.allWantedReady())).isFalse();
        assertThat(get(manager.tick())).as("refreshes queued").isEqualTo(1);
        await().until(() -> manager.current(SLEEP) != null);
        assertThat(manager.current(SLEEP).serial()).isNotEqualTo(first.serial());
        assertThat(get(manager.allWantedReady())).isTrue();
    }

    private static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
