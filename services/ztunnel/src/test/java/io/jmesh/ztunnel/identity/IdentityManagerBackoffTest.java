package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.testing.MutableClock;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * While the CA fails, an identity's fetches follow its backoff (0.5 s, doubling, up to 50 % jitter): connections
 * that need the certificate meanwhile fail at once with the last error instead of each sending a CSR, and do not
 * count as failures. The clock is injected and only the test moves it, so "within the backoff" is exact.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IdentityManagerBackoffTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");
    /** First backoff plus its largest jitter. */
    static final Duration FIRST_RETRY = Duration.ofMillis(750);
    /** Second backoff (doubled) plus its largest jitter. */
    static final Duration SECOND_RETRY = Duration.ofMillis(1500);

    final MutableClock clock = new MutableClock(Instant.now());
    final PrometheusRegistry registry = new PrometheusRegistry();
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
                        "cluster.local"), clock, registry);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void connectionsDuringACaOutageFailAtOnceWithTheLastErrorAndSendNoCsr() throws Exception {
        ca.failWith = "ca unavailable";
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> failures() == 1);
        for (int i = 0; i < 20; i++) {
            assertThatThrownBy(() -> get(manager.certificate(SLEEP))).isInstanceOf(ExecutionException.class)
                    .rootCause().hasMessageContaining("ca unavailable").hasMessageContaining("next try at");
        }
        assertThat(ca.requests.get()).as("CSRs during the first backoff").isEqualTo(1);
        assertThat(failures()).as("connections turned away are not failures").isEqualTo(1);

        // the backoff is over: the next connection sends one CSR, which fails: the backoff doubles once (to 1 s)
        clock.advance(FIRST_RETRY);
        assertThatThrownBy(() -> get(manager.certificate(SLEEP))).rootCause().hasMessageContaining("ca unavailable");
        assertThat(ca.requests.get()).isEqualTo(2);
        assertThat(failures()).isEqualTo(2);
        // had the 20 turned-away connections counted, the backoff would now be far beyond the second one
        ca.failWith = null; // before the clock moves: a retry the manager's own timer starts must succeed too
        clock.advance(SECOND_RETRY);
        assertThat(get(manager.certificate(SLEEP)).identity()).isEqualTo(SLEEP);
        assertThat(ca.requests.get()).isEqualTo(3);
    }

    /** A connection can ask for an identity discovery has not declared local yet: its backoff holds too. */
    @Test
    void connectionsForAnIdentityThatIsNotLocalAlsoFollowItsBackoff() throws Exception {
        ca.failWith = "ca unavailable";
        assertThatThrownBy(() -> get(manager.certificate(SLEEP))).rootCause().hasMessage("ca unavailable");
        assertThatThrownBy(() -> get(manager.certificate(SLEEP))).rootCause().hasMessageContaining("next try at");
        assertThat(ca.requests.get()).isEqualTo(1);
        ca.failWith = null;
        clock.advance(FIRST_RETRY);
        assertThat(get(manager.certificate(SLEEP)).identity()).isEqualTo(SLEEP);
        assertThat(ca.requests.get()).isEqualTo(2);
    }

    /** Declared local while backing off: the prefetch waits for the retry time instead of sending a CSR now. */
    @Test
    void anIdentityDeclaredLocalWhileBackingOffIsFetchedWhenTheBackoffEnds() throws Exception {
        ca.failWith = "ca unavailable";
        assertThatThrownBy(() -> get(manager.certificate(SLEEP))).rootCause().hasMessage("ca unavailable");
        manager.setLocalIdentities(Set.of(SLEEP));
        assertThat(get(manager.tick())).isZero();
        assertThat(ca.requests.get()).isEqualTo(1);
        ca.failWith = null;
        clock.advance(FIRST_RETRY);
        assertThat(get(manager.tick())).isEqualTo(1);
        await().until(() -> manager.current(SLEEP) != null);
        assertThat(ca.requests.get()).isEqualTo(2);
    }

    /**
     * As Istio's SecretManager, whose per-identity backoff outlives a forget (only a successful fetch resets it): an
     * identity forgotten while backing off and declared local again soon after is fetched at once (Istio's new
     * fetch is queued for now), and a failure then doubles its backoff instead of starting again at 0.5 s.
     */
    @Test
    void anIdentityForgottenWhileBackingOffKeepsItsBackoffWhenItComesBack() throws Exception {
        ca.failWith = "ca unavailable";
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> failures() == 1);
        manager.setLocalIdentities(Set.of());
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> failures() == 2);
        assertThat(ca.requests.get()).isEqualTo(2);
        // the clock has not moved since the failure: the retry time is the backoff (plus jitter) from now
        Throwable refused = org.assertj.core.api.Assertions.catchThrowable(() -> get(manager.certificate(SLEEP)));
        String message = refused.getCause().getMessage();
        Instant retryAt = Instant.parse(message.substring(message.indexOf("next try at ") + "next try at ".length()));
        assertThat(retryAt).as("retry after the second failure (" + message + ")")
                .isAfterOrEqualTo(clock.instant().plus(Duration.ofSeconds(1)));
    }

    /** A refresh that fails leaves the certificate serving and is retried when the backoff ends, not on every tick. */
    @Test
    void aFailedRefreshIsRetriedWhenTheBackoffEndsNotOnEveryTick() throws Exception {
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> manager.current(SLEEP) != null);
        WorkloadCertificate first = manager.current(SLEEP);
        ca.failWith = "ca unavailable";
        clock.set(first.notBefore().plus(Duration.ofHours(14))); // past half-life plus the 5 % jitter
        assertThat(get(manager.tick())).isEqualTo(1);
        await().until(() -> failures() == 1);
        assertThat(get(manager.tick())).as("refreshes queued within the backoff").isZero();
        assertThat(get(manager.certificate(SLEEP))).isEqualTo(first);
        assertThat(ca.requests.get()).isEqualTo(2);
        ca.failWith = null;
        clock.advance(FIRST_RETRY);
        manager.tick();
        await().until(() -> !manager.current(SLEEP).serial().equals(first.serial()));
        assertThat(ca.requests.get()).isEqualTo(3);
    }

    /**
     * As Istio: a failed refresh is retried at the backoff or when the held certificate expires, whichever is first.
     * With an hour's backoff taken ten minutes before expiry, the certificate must not leave a gap of 50 minutes.
     */
    @Test
    void aFailedRefreshIsRetriedAtTheHeldCertificatesExpiryWhenThatComesFirst() throws Exception {
        PrometheusRegistry slowRegistry = new PrometheusRegistry();
        IdentityManager slow = new IdentityManager(vertx, ca, new TrustBundle(),
                new IdentityManager.Settings(Duration.ofHours(24), 8, Duration.ofHours(1), Duration.ofHours(1),
                        "cluster.local"), clock, slowRegistry);
        slow.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> slow.current(SLEEP) != null);
        WorkloadCertificate first = slow.current(SLEEP);
        ca.failWith = "ca unavailable";
        clock.set(first.notAfter().minus(Duration.ofMinutes(10)));
        assertThat(get(slow.tick())).isEqualTo(1);
        await().until(() -> failures(slowRegistry) == 1);
        assertThat(slow.current(SLEEP)).isEqualTo(first); // still valid: keeps serving
        ca.failWith = null;
        clock.set(first.notAfter());
        assertThat(slow.current(SLEEP)).isNull();
        assertThat(get(slow.certificate(SLEEP)).serial()).isNotEqualTo(first.serial());
    }

    private double failures() {
        return failures(registry);
    }

    private static double failures(PrometheusRegistry registry) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals("ztunnel_certificate_fetches"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> "failure".equals(d.getLabels().get("outcome")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    private static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
