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

    /**
     * Inside a block, the whitespace of RFC 7468's lax parsing is skipped wherever it stands (space, tab, CR, LF,
     * vertical tab, form feed); any other character that is not base64 is refused, naming the block.
     */
    @Test
    void whitespaceInABlockIsRfc7468s() throws Exception {
        var root = TestCertificates.root("root");
        String pem = Pem.encode(root.cert());
        int body = pem.indexOf('\n') + 1;
        for (String w : new String[] {" ", "\t", "\r\n", "\u000B", "\f"}) {
            String spaced = pem.substring(0, body + 10) + w + pem.substring(body + 10);
            assertThat(Pem.certificate(spaced)).as("with %s", w.chars().boxed().toList()).isEqualTo(root.cert());
        }
        for (String stray : new String[] {"\u001F", "\u001C", "\u2003", "\u2028", "*"}) {
            String spoiled = pem.substring(0, body + 10) + stray + pem.substring(body + 10);
            assertThatThrownBy(() -> Pem.certificate(spoiled)).as("with %s", stray.chars().boxed().toList())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("pem: CERTIFICATE block is not valid base64");
        }
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
        // found by CsrFuzz: a BEGIN after other text on its line is no boundary (as Go's and OpenSSL's readers)
        String pem = Pem.encode(root.cert());
        assertThatThrownBy(() -> Pem.certificates("x" + pem)).hasMessageContaining("no CERTIFICATE");
        assertThat(Pem.certificates("Bag Attributes\n  \t" + pem + "trailing text\n")).containsExactly(root.cert());
        assertThat(Pem.certificates(pem.strip() + pem)).as("joined without a newline").containsExactly(root.cert(),
                root.cert());
        // found by CsrFuzz: the END line overlapping the BEGIN line's closing dashes threw an index exception
        assertThatThrownBy(() -> Pem.single("-----BEGIN CERTIFICATE REQUEST-----END CERTIFICATE REQUEST-----\n",
                "CERTIFICATE REQUEST")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("pem: CERTIFICATE REQUEST block without its END line");
        assertThatThrownBy(() -> Pem.certificates("-----BEGIN CERTIFICATE-----END CERTIFICATE-----"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("pem: CERTIFICATE block without its END line");
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
