package io.jmesh.ztunnel.trust;

import static io.jmesh.ztunnel.trust.TestBundles.bundle;
import static io.jmesh.ztunnel.trust.TestBundles.crl;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.ProtoMutator;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The trust bundles ca streams to ztunnel (roots as PEM, a DER CRL, the CRL issuer's chain) through
 * {@link BundleValidator#validate}, mutated as bytes and field by field ({@link ProtoMutator}). Oracle: a bundle is taken, or refused with one of the documented
 * reasons and a message naming its version; never another exception (the watcher would stop following the ca). A
 * bundle taken has exactly its roots, each a CA certificate; with a CRL, one that is fresh and whose serials are the
 * revoked set. Each input within {@link #SLOW}.
 */
@Tag("fuzz")
class TrustBundleFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final String TD = "cluster.local";
    static final Instant NOW = Instant.now();
    static final Set<String> REASONS = Set.of("trust_domain", "no_roots", "bad_root", "bad_crl", "bad_crl_issuer",
            "crl_signature", "crl_stale");

    final BundleValidator validator = new BundleValidator(TD);
    final Map<String, Integer> outcomes = new TreeMap<>();

    @Test
    void aBundleIsTakenWholeOrRefusedWithItsReason() throws Exception {
        TestCa.Issued root = TestCa.root("mesh root");
        TestCa.Issued next = TestCa.root("next mesh root");
        TestCa.Issued intermediate = TestCa.intermediate(root, "plug-in intermediate");
        byte[][] seeds = {
            bundle(7, TD, crl(root, root, NOW.minusSeconds(60), Duration.ofHours(24), BigInteger.TEN,
                    new BigInteger("340282366920938463463374607431768211455")), root, next).toByteArray(),
            bundle(3, TD, crl(intermediate, intermediate, NOW, Duration.ofHours(1), BigInteger.ONE), root).toBuilder()
                    .addCrlIssuerChainPem(Pem.encode(intermediate.cert())).build().toByteArray(),
            bundle(1, TD, null, root).toByteArray()};
        List<X509Certificate> known = List.of(intermediate.cert());
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named("trust-bundle", 8192).seeds(seeds)
                .mutator(ProtoMutator.of(TrustBundle.getDefaultInstance(), Map.of()))
                .run(input -> assertTimeoutPreemptively(SLOW, () -> validate(input, known),
                        "one bundle took longer than " + SLOW)), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        System.out.println("fuzz trust-bundle: outcomes " + outcomes);
        assertThat(outcomes).as("the valid seeds were taken").containsKey("taken");
    }

    private void validate(byte[] input, List<X509Certificate> known) throws Exception {
        TrustBundle b;
        try {
            b = TrustBundle.parseFrom(input);
        } catch (InvalidProtocolBufferException e) {
            outcomes.merge("not_protobuf", 1, Integer::sum); // the gRPC layer fails such a message
            return;
        }
        TrustSnapshot s;
        try {
            s = validator.validate(b, known, NOW);
        } catch (BundleRejected r) {
            assertThat(r.reason()).as("reason of '%s'", r.getMessage()).isIn(REASONS);
            assertThat(r.getMessage()).startsWith("trust bundle version " + b.getVersion());
            outcomes.merge(r.reason(), 1, Integer::sum);
            return;
        }
        outcomes.merge("taken", 1, Integer::sum);
        assertThat(b.getTrustDomain()).isEqualTo(TD);
        assertThat(s.roots()).hasSize(b.getRootsPemCount());
        assertThat(s.roots()).allSatisfy(r -> assertThat(r.getBasicConstraints()).as("a CA").isNotNegative());
        if (b.getCrlDer().isEmpty()) {
            assertThat(s.revoked()).isEmpty();
            return;
        }
        X509CRL crl = (X509CRL) CertificateFactory.getInstance("X.509")
                .generateCRL(new ByteArrayInputStream(b.getCrlDer().toByteArray()));
        assertThat(s.crlNextUpdate()).as("fresh").isAfter(NOW);
        Set<BigInteger> serials = new HashSet<>();
        Set<? extends X509CRLEntry> entries = crl.getRevokedCertificates();
        if (entries != null) {
            entries.forEach(e -> serials.add(e.getSerialNumber()));
        }
        assertThat(s.revoked()).isEqualTo(serials);
    }
}
