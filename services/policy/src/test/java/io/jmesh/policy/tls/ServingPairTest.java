package io.jmesh.policy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.policy.testing.TestPki;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServingPairTest {

    @TempDir
    Path dir;

    @Test
    void aCertificateWithItsOwnKeyIsAcceptedInPkcs8AndSec1Form() throws Exception {
        TestPki pki = TestPki.create(dir);
        ServingPair pkcs8 = ServingPair.of(pki.cert(), pki.key(), "c", "k", Instant.now());
        assertThat(pkcs8.notAfter()).isAfter(Instant.now());
        assertThat(pkcs8.toString()).doesNotContain("PRIVATE");

        // Helm's genPrivateKey and openssl ecparam write the traditional SEC1 form, curve named inside
        var info = org.bouncycastle.asn1.pkcs.PrivateKeyInfo.getInstance(
                io.jmesh.core.tls.Pem.privateKey(pki.key()).getEncoded());
        var inner = org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
        var named = new org.bouncycastle.asn1.sec.ECPrivateKey(256, inner.getKey(),
                info.getPrivateKeyAlgorithm().getParameters());
        StringWriter sec1 = new StringWriter();
        try (var w = new org.bouncycastle.util.io.pem.PemWriter(sec1)) {
            w.writeObject(new org.bouncycastle.util.io.pem.PemObject("EC PRIVATE KEY", named.getEncoded()));
        }
        assertThat(sec1.toString()).contains("BEGIN EC PRIVATE KEY");
        assertThat(ServingPair.of(pki.cert(), sec1.toString(), "c", "k", Instant.now()).chainPem())
                .isEqualTo(pki.cert());
    }

    @Test
    void aKeyOfAnotherCertificateIsRefusedNamingTheKeyField() throws Exception {
        TestPki pki = TestPki.create(dir);
        String otherKey = Files.readString(pki.keyPem);
        Path second = Files.createDirectory(dir.resolve("second"));
        pki.issue(second);
        assertThatThrownBy(() -> ServingPair.of(Files.readString(second.resolve("cert.pem")), otherKey,
                "xds.certFile", "xds.keyFile", Instant.now()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("xds.keyFile: the key does not belong to the first certificate of xds.certFile");
    }

    @Test
    void aKeyOfAnotherAlgorithmIsRefused() throws Exception {
        TestPki pki = TestPki.create(dir);
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        String rsa = io.jmesh.core.tls.Pem.encodePrivateKey(g.generateKeyPair().getPrivate());
        assertThatThrownBy(() -> ServingPair.of(pki.cert(), rsa, "xds.certFile", "xds.keyFile", Instant.now()))
                .hasMessageContaining("xds.keyFile: the key does not belong");
    }

    @Test
    void garbageAndWrongBlocksAreRefusedNamingTheField() throws Exception {
        TestPki pki = TestPki.create(dir);
        assertThatThrownBy(() -> ServingPair.of("not pem", pki.key(), "xds.certFile", "xds.keyFile", Instant.now()))
                .hasMessageStartingWith("xds.certFile: pem:");
        assertThatThrownBy(() -> ServingPair.of(pki.key(), pki.key(), "xds.certFile", "xds.keyFile", Instant.now()))
                .hasMessageStartingWith("xds.certFile: pem: found");
        assertThatThrownBy(() -> ServingPair.of(pki.cert(), pki.cert(), "xds.certFile", "xds.keyFile", Instant.now()))
                .hasMessageStartingWith("xds.keyFile: pem: found");
    }

    @Test
    void anExpiredOrNotYetValidCertificateIsRefused() throws Exception {
        TestPki pki = TestPki.create(dir);
        assertThatThrownBy(() -> ServingPair.of(pki.cert(), pki.key(), "xds.certFile", "xds.keyFile",
                Instant.now().plusSeconds(3 * 3600)))
                .hasMessageContaining("xds.certFile: the certificate expired at");
        assertThatThrownBy(() -> ServingPair.of(pki.cert(), pki.key(), "xds.certFile", "xds.keyFile",
                Instant.now().minusSeconds(3600)))
                .hasMessageContaining("xds.certFile: the certificate is not valid before");
    }
}
