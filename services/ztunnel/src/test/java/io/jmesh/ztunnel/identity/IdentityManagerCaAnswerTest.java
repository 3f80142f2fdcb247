package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Pem;
import io.jmesh.testing.MutableClock;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.math.BigInteger;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the CA answers is checked before it is used: a leaf for another identity or another key, one that is expired
 * or not yet valid, a chain that does not reach the trust bundle, an answer with no root when there is no bundle to
 * adopt. Each is refused with a message that says what was wrong, counted by reason in
 * {@code ztunnel_certificate_rejected_total}, and a still-valid certificate keeps serving. The CA here is a
 * {@link CaClient} that answers whatever the test builds; the clock is injected.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IdentityManagerCaAnswerTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");
    static final SpiffeId OTHER = SpiffeId.of("cluster.local", "default", "other");

    /** Builds the CA's {@code cert_chain} for a CSR. */
    @FunctionalInterface
    interface Answer {
        List<String> chain(PublicKey csrKey, SpiffeId asked) throws Exception;
    }

    final MutableClock clock = new MutableClock(Instant.now());
    final PrometheusRegistry registry = new PrometheusRegistry();
    final AtomicInteger requests = new AtomicInteger();
    Vertx vertx;
    TestCa.Issued root;
    volatile Answer answer;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        root = TestCa.root("mesh root");
        answer = (key, asked) -> List.of(leaf(root, key, asked.uri(), now().minusSeconds(300), now().plus(hours(24))),
                Pem.encode(root.cert()));
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** Every reason exists at zero from the start, so dashboards and alerts see 0 rather than no series. */
    @Test
    void everyReasonIsCountedFromZero() {
        manager(bundle());
        for (String reason : List.of("empty_chain", "malformed", "key_mismatch", "identity_mismatch", "not_yet_valid",
                "expired", "untrusted_chain", "no_roots")) {
            assertThat(registry.scrape().stream()
                    .filter(s -> s.getMetadata().getName().equals("ztunnel_certificate_rejected"))
                    .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                    .anyMatch(d -> reason.equals(d.getLabels().get("reason")))).as(reason).isTrue();
        }
    }

    @Test
    void anEmptyChainIsRefused() throws Exception {
        answer = (key, asked) -> List.of();
        assertRefused(manager(bundle()), "empty_chain", "ca returned an empty cert_chain");
    }

    @Test
    void anElementThatIsNotACertificateIsRefused() throws Exception {
        answer = (key, asked) -> List.of(leaf(root, key, asked.uri(), now().minusSeconds(300), now().plus(hours(24))),
                "not a certificate");
        assertRefused(manager(bundle()), "malformed", "ca returned cert_chain[1]: pem: no CERTIFICATE block found");
    }

    @Test
    void aLeafForAnotherIdentityIsRefused() throws Exception {
        answer = (key, asked) -> List.of(leaf(root, key, OTHER.uri(), now().minusSeconds(300), now().plus(hours(24))),
                Pem.encode(root.cert()));
        assertRefused(manager(bundle()), "identity_mismatch",
                "ca returned identity " + OTHER.uri() + " (expected: " + SLEEP.uri() + ")");
    }

    @Test
    void aLeafForAnotherKeyIsRefused() throws Exception {
        answer = (key, asked) -> List.of(leaf(root, freshKey(), asked.uri(), now().minusSeconds(300),
                now().plus(hours(24))), Pem.encode(root.cert()));
        assertRefused(manager(bundle()), "key_mismatch",
                "ca returned a certificate for another key");
    }

    @Test
    void anExpiredLeafIsRefused() throws Exception {
        Instant notAfter = now().minus(hours(1)).truncatedTo(ChronoUnit.SECONDS); // X.509 times are whole seconds
        answer = (key, asked) -> List.of(leaf(root, key, asked.uri(), now().minus(hours(25)), notAfter),
                Pem.encode(root.cert()));
        assertRefused(manager(bundle()), "expired",
                "ca returned a certificate that expired at " + notAfter);
    }

    @Test
    void aLeafNotYetValidIsRefused() throws Exception {
        Instant notBefore = now().plus(hours(1)).truncatedTo(ChronoUnit.SECONDS);
        answer = (key, asked) -> List.of(leaf(root, key, asked.uri(), notBefore, notBefore.plus(hours(24))),
                Pem.encode(root.cert()));
        assertRefused(manager(bundle()), "not_yet_valid",
                "ca returned a certificate not valid before " + notBefore);
    }

    @Test
    void aChainThatDoesNotReachTheTrustBundleIsRefused() throws Exception {
        TestCa.Issued foreign = TestCa.root("foreign root");
        answer = (key, asked) -> List.of(leaf(foreign, key, asked.uri(), now().minusSeconds(300),
                now().plus(hours(24))), Pem.encode(foreign.cert()));
        assertRefused(manager(bundle()), "untrusted_chain",
                "ca returned a chain that does not verify against the trust bundle");
    }

    /**
     * With no bundle configured, the roots the CA sends (the last element of {@code cert_chain}) become the bundle.
     * An answer of one element has no roots: its leaf must not become the mesh's trust anchor.
     */
    @Test
    void aLeafAloneIsNotAdoptedAsTheTrustBundle() throws Exception {
        answer = (key, asked) -> List.of(leaf(root, key, asked.uri(), now().minusSeconds(300),
                now().plus(hours(24))));
        TrustBundle empty = new TrustBundle();
        assertRefused(manager(empty), "no_roots",
                "ca returned no roots (cert_chain has 1 element) and there is no trust bundle to verify against");
        assertThat(empty.roots()).isEmpty();
    }

    /** As above, with a bundle configured a leaf alone verifies against it (Istio accepts it too, with a warning). */
    @Test
    void aLeafAloneIsAcceptedWhenTheBundleVerifiesIt() throws Exception {
        answer = (key, asked) -> List.of(leaf(root, key, asked.uri(), now().minusSeconds(300),
                now().plus(hours(24))));
        assertThat(get(manager(bundle()).certificate(SLEEP)).chain()).hasSize(1);
    }

    @Test
    void aBadAnswerToARefreshLeavesTheOldCertificateServing() throws Exception {
        IdentityManager manager = manager(bundle());
        manager.setLocalIdentities(Set.of(SLEEP));
        await().until(() -> manager.current(SLEEP) != null);
        WorkloadCertificate first = manager.current(SLEEP);
        answer = (key, asked) -> List.of(leaf(root, key, OTHER.uri(), now().minusSeconds(300), now().plus(hours(24))),
                Pem.encode(root.cert()));
        clock.set(first.notBefore().plus(hours(14))); // past half-life plus the 5 % jitter
        assertThat(get(manager.tick())).isEqualTo(1);
        await().until(() -> rejected("identity_mismatch") == 1);
        assertThat(manager.current(SLEEP)).isEqualTo(first);
        assertThat(get(manager.certificate(SLEEP))).isEqualTo(first);
        assertThat(get(manager.allWantedReady())).isTrue();
    }

    private void assertRefused(IdentityManager manager, String reason, String message) throws Exception {
        assertThatThrownBy(() -> get(manager.certificate(SLEEP))).rootCause().hasMessageContaining(message);
        assertThat(requests.get()).isEqualTo(1);
        assertThat(manager.current(SLEEP)).isNull();
        assertThat(rejected(reason)).as("ztunnel_certificate_rejected_total{reason=%s}", reason).isEqualTo(1);
    }

    private IdentityManager manager(TrustBundle trust) {
        CaClient ca = (csrPem, identity, ttl) -> {
            requests.incrementAndGet();
            try {
                return Future.succeededFuture(
                        answer.chain(new JcaPKCS10CertificationRequest(io.jmesh.ca.signing.CsrPem.parse(csrPem)).getPublicKey(), identity));
            } catch (Exception e) {
                return Future.failedFuture(e);
            }
        };
        return new IdentityManager(vertx, ca, trust, new IdentityManager.Settings(Duration.ofHours(24), 8,
                Duration.ofMillis(500), Duration.ofSeconds(150), "cluster.local"), clock, registry);
    }

    private TrustBundle bundle() {
        return new TrustBundle(List.of(root.cert()));
    }

    private double rejected(String reason) {
        return registry.scrape().stream()
                .filter(s -> s.getMetadata().getName().equals("ztunnel_certificate_rejected"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    private Instant now() {
        return clock.instant();
    }

    private static Duration hours(long h) {
        return Duration.ofHours(h);
    }

    private static PublicKey freshKey() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair().getPublic();
    }

    /** A leaf PEM for {@code key} and {@code uri}, signed by {@code issuer}, valid from {@code from} to {@code to}. */
    private static String leaf(TestCa.Issued issuer, PublicKey key, String uri, Instant from, Instant to)
            throws Exception {
        var b = new JcaX509v3CertificateBuilder(new X500Name(issuer.cert().getSubjectX500Principal().getName()),
                BigInteger.valueOf(System.nanoTime()), Date.from(from), Date.from(to), new X500Name(""), key);
        b.addExtension(Extension.subjectAlternativeName, true,
                new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, uri)));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.keys().getPrivate());
        return Pem.encode(new JcaX509CertificateConverter().getCertificate(b.build(signer)));
    }

    private static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
