package io.jmesh.ztunnel.trust;

import static io.jmesh.ztunnel.trust.TestBundles.bundle;
import static io.jmesh.ztunnel.trust.TestBundles.crl;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Which trust bundles ztunnel accepts from the ca, and the reason it gives for each one it refuses. */
class BundleValidatorTest {

    static final String TD = "cluster.local";
    static final Instant NOW = Instant.now();
    static TestCa.Issued root;
    static TestCa.Issued nextRoot;
    static TestCa.Issued foreign;
    final BundleValidator validator = new BundleValidator(TD);

    @BeforeAll
    static void roots() throws Exception {
        root = TestCa.root("mesh root");
        nextRoot = TestCa.root("next mesh root");
        foreign = TestCa.root("mesh root"); // same name, another key: a forged CRL
    }

    @Test
    void aBundleWithAFreshCrlSignedByOneOfItsRootsGivesItsSerials() throws Exception {
        TrustSnapshot s = validator.validate(bundle(7, TD, crl(nextRoot, nextRoot, NOW.minusSeconds(60),
                Duration.ofHours(24), BigInteger.TEN, BigInteger.TWO), root, nextRoot), List.of(), NOW);
        assertThat(s.version()).isEqualTo(7);
        assertThat(s.roots()).containsExactly(root.cert(), nextRoot.cert());
        assertThat(s.revoked()).containsExactlyInAnyOrder(BigInteger.TEN, BigInteger.TWO);
        assertThat(s.crlNextUpdate()).isAfter(NOW);
    }

    @Test
    void aBundleWithoutCrlRevokesNothing() throws Exception {
        TrustSnapshot s = validator.validate(bundle(1, TD, null, root), List.of(), NOW);
        assertThat(s.revoked()).isEmpty();
        assertThat(s.crlNextUpdate()).isNull();
    }

    @Test
    void aCrlSignedByAKnownIntermediateUnderTheRootsIsAccepted() throws Exception {
        // the intermediate is a CA certificate signed by the root (as a plug-in CA's ca-cert.pem)
        TestCa.Issued intermediate = TestCa.intermediate(root, "plug-in intermediate");
        TrustSnapshot s = validator.validate(bundle(3, TD, crl(intermediate, intermediate, NOW, Duration.ofHours(1),
                BigInteger.ONE), root), List.of(intermediate.cert()), NOW);
        assertThat(s.revoked()).containsExactly(BigInteger.ONE);
        assertThat(reason(bundle(3, TD, crl(intermediate, intermediate, NOW, Duration.ofHours(1), BigInteger.ONE),
                nextRoot), List.of(intermediate))).isEqualTo("crl_signature");
    }

    @Test
    void aCrlSignedByAnIntermediateVerifiesThroughTheChainTheBundleCarries() throws Exception {
        // a freshly started ztunnel holds no certificate under the plug-in CA's intermediate yet: the bundle's
        // crl_issuer_chain_pem is what lets it verify the CRL
        TestCa.Issued intermediate = TestCa.intermediate(root, "plug-in intermediate");
        byte[] crl = crl(intermediate, intermediate, NOW, Duration.ofHours(1), BigInteger.TWO);
        TrustBundle withChain = bundle(4, TD, crl, root).toBuilder()
                .addCrlIssuerChainPem(io.jmesh.core.tls.Pem.encode(intermediate.cert())).build();
        assertThat(validator.validate(withChain, List.of(), NOW).revoked()).containsExactly(BigInteger.TWO);
        assertThat(reason(bundle(4, TD, crl, root), List.of())).as("without the chain").isEqualTo("crl_signature");
        TrustBundle underAnotherRoot = bundle(4, TD, crl, nextRoot).toBuilder()
                .addCrlIssuerChainPem(io.jmesh.core.tls.Pem.encode(intermediate.cert())).build();
        assertThat(reason(underAnotherRoot, List.of())).as("the chain must end at a bundle root")
                .isEqualTo("crl_signature");
        assertThat(reason(bundle(4, TD, crl, root).toBuilder().addCrlIssuerChainPem("not pem").build(), List.of()))
                .isEqualTo("bad_crl_issuer");
    }

    @Test
    void everyBadBundleIsRefusedWithItsReason() throws Exception {
        byte[] good = crl(root, root, NOW, Duration.ofHours(1));
        assertThat(reason(bundle(1, "other.mesh", good, root), List.of())).isEqualTo("trust_domain");
        assertThat(reason(bundle(1, TD, good), List.of())).isEqualTo("no_roots");
        assertThat(reason(bundle(1, TD, good).toBuilder().addRootsPem("not pem").build(), List.of()))
                .isEqualTo("bad_root");
        TestCa.Issued leafAsRoot = new TestCa.Issued(root.keys(),
                new TestCa(null, "t").leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/a/sa/b").cert());
        assertThat(reason(bundle(1, TD, null, leafAsRoot), List.of())).isEqualTo("bad_root");
        assertThat(reason(bundle(1, TD, new byte[] {1, 2, 3}, root), List.of())).isEqualTo("bad_crl");
        // same issuer name, signed by another key
        assertThat(reason(bundle(1, TD, crl(root, foreign, NOW, Duration.ofHours(1)), root), List.of()))
                .isEqualTo("crl_signature");
        // past its nextUpdate
        assertThat(reason(bundle(1, TD, crl(root, root, NOW.minus(Duration.ofHours(3)), Duration.ofHours(1)), root),
                List.of())).isEqualTo("crl_stale");
    }

    @Test
    void theRefusalMessageNamesTheVersionAndTheProblem() throws Exception {
        assertThatThrownBy(() -> validator.validate(bundle(42, TD, crl(root, root, NOW.minus(Duration.ofHours(3)),
                Duration.ofHours(1)), root), List.of(), NOW))
                .isInstanceOf(BundleRejected.class)
                .hasMessageContaining("version 42").hasMessageContaining("nextUpdate");
    }

    private String reason(TrustBundle b, List<TestCa.Issued> intermediates) {
        try {
            validator.validate(b, intermediates.stream().map(TestCa.Issued::cert).toList(), NOW);
            return "accepted";
        } catch (BundleRejected e) {
            return e.reason();
        }
    }
}
