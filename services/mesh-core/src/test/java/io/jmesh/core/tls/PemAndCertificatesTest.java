package io.jmesh.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.identity.SpiffeId;
import java.security.GeneralSecurityException;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.Test;

class PemAndCertificatesTest {

    @Test
    void certificatesKeysAndCsrsRoundTripThroughPem() throws Exception {
        var root = TestCertificates.root("root");
        var leaf = TestCertificates.leaf(root, "spiffe://cluster.local/ns/default/sa/reviews");
        String chain = Pem.encode(List.of(leaf.cert(), root.cert()));
        assertThat(Pem.certificates(chain)).containsExactly(leaf.cert(), root.cert());
        assertThat(Pem.privateKey(Pem.encode(leaf.keys().getPrivate()))).isEqualTo(leaf.keys().getPrivate());
        String pkcs8 = Pem.encodePrivateKey(leaf.keys().getPrivate());
        assertThat(pkcs8).startsWith("-----BEGIN PRIVATE KEY-----");
        assertThat(Pem.privateKey(pkcs8)).isEqualTo(leaf.keys().getPrivate());

        var csr = new JcaPKCS10CertificationRequestBuilder(new X500Name(""), leaf.keys().getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(leaf.keys().getPrivate()));
        String csrPem = Pem.encode(new Pem.Block("CERTIFICATE REQUEST", csr.getEncoded()));
        assertThat(Pem.single(csrPem, "CERTIFICATE REQUEST")).isEqualTo(csr.getEncoded());
    }

    @Test
    void wrongPemTypesAreNamed() throws Exception {
        var root = TestCertificates.root("root");
        String certPem = Pem.encode(root.cert());
        String keyPem = Pem.encode(root.keys().getPrivate());
        assertThatThrownBy(() -> Pem.single(certPem, "CERTIFICATE REQUEST")).hasMessageContaining("found CERTIFICATE")
                .hasMessageContaining("expected: CERTIFICATE REQUEST");
        assertThatThrownBy(() -> Pem.certificates(keyPem)).hasMessageContaining("expected: CERTIFICATE");
        assertThatThrownBy(() -> Pem.privateKey(certPem)).hasMessageContaining("expected: PRIVATE KEY");
        assertThatThrownBy(() -> Pem.certificates("garbage")).hasMessageContaining("no CERTIFICATE");
        assertThatThrownBy(() -> Pem.certificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("pem: not a valid certificate");
        assertThatThrownBy(() -> Pem.certificate(Pem.encode(root.cert(), root.cert())))
                .hasMessageContaining("expected: exactly 1");
    }

    @Test
    void spiffeIdsComeFromUriSans() throws Exception {
        var root = TestCertificates.root("root");
        var one = TestCertificates.leaf(root, "spiffe://cluster.local/ns/a/sa/b");
        var two = TestCertificates.leaf(root, "spiffe://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/c/sa/d");
        var junk = TestCertificates.leaf(root, "https://example.com/");
        assertThat(Certificates.spiffeId(one.cert())).isEqualTo(SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b"));
        assertThat(Certificates.spiffeId(two.cert())).isNull();
        assertThat(Certificates.spiffeIds(two.cert())).hasSize(2);
        assertThat(Certificates.spiffeId(junk.cert())).isNull();
        assertThat(Certificates.uriSans(junk.cert())).containsExactly("https://example.com/");
        assertThat(Certificates.serialHex(one.cert())).matches("[0-9a-f]+");
    }

    @Test
    void chainsVerifyOnlyAgainstTheirRoot() throws Exception {
        var root = TestCertificates.root("root");
        var other = TestCertificates.root("other");
        var leaf = TestCertificates.leaf(root, "spiffe://cluster.local/ns/a/sa/b");
        Certificates.verifyChain(List.of(leaf.cert()), List.of(root.cert()), new Date());
        Certificates.verifyChain(List.of(leaf.cert(), root.cert()), List.of(other.cert(), root.cert()), new Date());
        assertThatThrownBy(() -> Certificates.verifyChain(List.of(leaf.cert()), List.of(other.cert()), new Date()))
                .isInstanceOf(GeneralSecurityException.class);
        assertThatThrownBy(() -> Certificates.verifyChain(List.of(leaf.cert()), List.of(root.cert()),
                new Date(System.currentTimeMillis() + 86_400_000L * 30)))
                .isInstanceOf(GeneralSecurityException.class);
    }

    @Test
    void providerIsChosenOnce() {
        assertThat(TlsPolicy.provider()).isSameAs(TlsPolicy.provider());
        assertThat(TlsPolicy.CIPHER_SUITES).allMatch(s -> s.contains("GCM"));
    }

    @Test
    void keysMatchOnlyTheirOwnPublicHalf() throws Exception {
        var ec = TestCertificates.ecKey();
        var otherEc = TestCertificates.ecKey();
        var g = java.security.KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        var rsa = g.generateKeyPair();
        assertThat(Certificates.keysMatch(ec.getPrivate(), ec.getPublic())).isTrue();
        assertThat(Certificates.keysMatch(rsa.getPrivate(), rsa.getPublic())).isTrue();
        assertThat(Certificates.keysMatch(ec.getPrivate(), otherEc.getPublic())).isFalse();
        assertThat(Certificates.keysMatch(ec.getPrivate(), rsa.getPublic())).isFalse();
        assertThat(Certificates.keysMatch(rsa.getPrivate(), ec.getPublic())).isFalse();
    }
}
