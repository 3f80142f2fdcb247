package io.jmesh.ca.root;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.signing.Crypto;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** An operator-provided CA in Istio's cacerts layout: an intermediate under an offline root. */
@Timeout(60)
class PluginCaTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @TempDir
    Path dir;

    // one instant for every certificate of a test: X.509 times have whole seconds, and an intermediate made a moment
    // after its root could otherwise outlive it by a second
    static final Instant NOW = Instant.now();

    static X509Certificate ca(String subject, KeyPair subjectKey, String issuer, KeyPair issuerKey) throws Exception {
        Instant now = NOW;
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(new X500Name(issuer), Crypto.randomSerial(),
                Date.from(now.minusSeconds(3600)), Date.from(now.plus(Duration.ofDays(365))), new X500Name(subject),
                SubjectPublicKeyInfo.getInstance(subjectKey.getPublic().getEncoded()));
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        return new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKey.getPrivate())));
    }

    @Test
    void issuesUnderThePluggedInIntermediateWithTheFullChain() throws Exception {
        KeyPair rootKey = TestCsrs.ecP256();
        KeyPair intKey = TestCsrs.ecP256();
        X509Certificate root = ca("O=corp,CN=offline root", rootKey, "O=corp,CN=offline root", rootKey);
        X509Certificate intermediate = ca("O=corp,CN=mesh intermediate", intKey, "O=corp,CN=offline root", rootKey);
        Path cacerts = Files.createDirectories(dir.resolve("cacerts"));
        Files.writeString(cacerts.resolve("ca-cert.pem"), Pem.encode(intermediate));
        Files.writeString(cacerts.resolve("ca-key.pem"), Pem.encodePrivateKey(intKey.getPrivate()));
        Files.writeString(cacerts.resolve("root-cert.pem"), Pem.encode(root));
        Files.writeString(cacerts.resolve("cert-chain.pem"), Pem.encode(intermediate, root));

        CaServerExtension ca = CaServerExtension.builder().config("root.pluginCertsDir", cacerts.toString()).build();
        ca.start();
        Vertx vertx = Vertx.vertx();
        try (CaClient client = ca.client(vertx)) {
            assertThat(Pem.certificates(ca.rootsPem())).containsExactly(root);
            IstioCertificateResponse r = client.createCertificate(ca.nodeToken("node-a"),
                    TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null)
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertThat(r.getCertChainCount()).isEqualTo(3);
            X509Certificate leaf = Pem.certificate(r.getCertChain(0));
            assertThat(Pem.certificate(r.getCertChain(1))).isEqualTo(intermediate);
            assertThat(Pem.certificates(r.getCertChain(2))).containsExactly(root);
            assertThat(leaf.getIssuerX500Principal()).isEqualTo(intermediate.getSubjectX500Principal());
            Certificates.verifyChain(List.of(leaf, intermediate), List.of(root), new Date());
            assertThat(ca.metric("ca_signing_cert_expiry_seconds")).isLessThan(ca.metric("ca_root_expiry_seconds") + 1);

            // the CRL is signed by the intermediate: the trust bundle carries its chain, so a ztunnel holding only
            // the root can verify it
            ca.bootstrap().revocations().revokeSerial(leaf.getSerialNumber().toString(16),
                    io.jmesh.proto.ca.v1.RevocationReason.KEY_COMPROMISE, "test", "test");
            var bundle = ca.bootstrap().trustBundle().current();
            assertThat(bundle.getCrlDer().isEmpty()).isFalse();
            assertThat(bundle.getCrlIssuerChainPemList()).containsExactly(Pem.encode(intermediate));
            java.security.cert.X509CRL crl = (java.security.cert.X509CRL) java.security.cert.CertificateFactory
                    .getInstance("X.509").generateCRL(new java.io.ByteArrayInputStream(bundle.getCrlDer().toByteArray()));
            crl.verify(Pem.certificate(bundle.getCrlIssuerChainPem(0)).getPublicKey());

            // a broken replacement (key of another certificate) is refused; the previous material keeps serving
            Files.writeString(cacerts.resolve("ca-key.pem"), Pem.encodePrivateKey(TestCsrs.ecP256().getPrivate()));
            ca.bootstrap().reloadNow().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            await().during(Duration.ofMillis(600)).atMost(Duration.ofSeconds(5))
                    .until(() -> ca.bootstrap().authority().signingCert().equals(intermediate));
            assertThat(client.createCertificate(ca.nodeToken("node-a"), TestCsrs.forIdentity(ZTUNNEL).pem(), 3600,
                    null).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS).getCertChainCount())
                    .isEqualTo(3);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            ca.stop();
        }
    }

    @Test
    void refusesAKeyThatDoesNotMatchTheCertificate() throws Exception {
        KeyPair rootKey = TestCsrs.ecP256();
        X509Certificate root = ca("CN=root", rootKey, "CN=root", rootKey);
        Path cacerts = Files.createDirectories(dir.resolve("bad"));
        Files.writeString(cacerts.resolve("ca-cert.pem"), Pem.encode(root));
        Files.writeString(cacerts.resolve("ca-key.pem"), Pem.encodePrivateKey(TestCsrs.ecP256().getPrivate()));
        Files.writeString(cacerts.resolve("root-cert.pem"), Pem.encode(root));
        PluginCa plugin = new PluginCa(cacerts, StateDirectory.open(dir.resolve("state")), Clock.systemUTC());
        assertThatThrownBy(plugin::load).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("signing key does not match signing certificate");
    }
}
