package io.jmesh.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.StringReader;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.List;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.junit.jupiter.api.Test;

/** PEM keys as OpenSSL writes them, read with the JDK alone; Bouncy Castle's reading (the former one) as the check. */
class PemKeysTest {

    /** `openssl ecparam -name prime256v1 -genkey`: the curve's own block, then SEC 1 with the public key. */
    static final String EC_TRADITIONAL = "" +
            "-----BEGIN EC PARAMETERS-----\n" +
            "BggqhkjOPQMBBw==\n" +
            "-----END EC PARAMETERS-----\n" +
            "-----BEGIN EC PRIVATE KEY-----\n" +
            "MHcCAQEEIHHc+nvm2aGS4C3htUi4c4LCjKuGTmbWNWW66eQbyR+xoAoGCCqGSM49\n" +
            "AwEHoUQDQgAEbVNvtUfvh7Yb+fQSO73//CEyvDXjMPal7ZzrTUHK+g9+vaynoTXv\n" +
            "N3PiCPgy/i2rahLgIeDP5a73E9SXY/lCvw==\n" +
            "-----END EC PRIVATE KEY-----\n";

    /** `openssl genrsa -traditional 1024`: PKCS#1. */
    static final String RSA_TRADITIONAL = "" +
            "-----BEGIN RSA PRIVATE KEY-----\n" +
            "MIICXAIBAAKBgQDJoinR5N7mRjEl6z7OomWI2SIjtyqYMrHdijKSnYohGHciyVLX\n" +
            "nXiT3SVRJQff+NU2737X5BWD48vF5hX+bWkcOjpEaJNTAiDFpPpNSv+Mwvc6pJIk\n" +
            "Z5Ocu1Vp0BVwczRNna/fQJp+bVz9nv0FAJsBa9kfkSdvonTMEK4tgQywNwIDAQAB\n" +
            "AoGAWIbwYY1hKC1NSt68VrEKb0kWKiQzeVtYqHISvjiY+uro88b8rlofJJyF09i0\n" +
            "WmvAATyprlQf9iY/w4W/xlN3P/vlvuVIhePTJG5QrWr8fLFSD37jV1RSrEzxKCjM\n" +
            "tXEaMqrst4Mkq4aUFXsWLPvqbx1qerpMjM5mHXPV8151txECQQDpTH++3puZVaO9\n" +
            "+q8MRCOPUAUEJEgoHufGYD7rDtbHfX4U+gwsXblLmJ3zJcL4o2FXkm8fYxLR7xDk\n" +
            "uqRCXn7NAkEA3UDgTi34lcjxBwkNHxhwpCy6KiDUMLRrysFpy9b7V8QWQSqsPIDT\n" +
            "VowOQQcIpSnLdkCsc5/AM9bj4mooLQBjEwJAds71c19sQC8jvxkN0iJVNaObmltb\n" +
            "v8rVX+odwJkC+f7HmakpT+K+/WeQcIX3f6W8adtx6bsLl4u2v7To97+ltQJACPW9\n" +
            "n6zg6j/u8tf8/gthVGSzTU1zCl3kF5vpiuWz3AQG2rC9tN2KsXCOizebtASTRsCr\n" +
            "uyr2/6JuLBccdWYUnQJBAIfG5V23KVM3mL+UutO/GXQinBKGHtvY8FkzDXApkF6u\n" +
            "qygyt4tJB6//mhSX3z922bmFoR7wsZXuRw6RtU0/HZQ=\n" +
            "-----END RSA PRIVATE KEY-----\n";

    @Test
    void anOpenSslTraditionalEcKeyReadsAsTheSameKey() throws Exception {
        ECPrivateKey key = (ECPrivateKey) Pem.privateKey(EC_TRADITIONAL);
        ECPrivateKey expected = (ECPrivateKey) bouncyCastle(EC_TRADITIONAL);
        assertThat(key.getS()).isEqualTo(expected.getS());
        assertThat(key.getParams().getOrder()).isEqualTo(expected.getParams().getOrder());
        // and back out as PKCS#8, which reads as the same key again
        assertThat(((ECPrivateKey) Pem.privateKey(Pem.encode(key))).getS()).isEqualTo(expected.getS());
    }

    @Test
    void anOpenSslTraditionalRsaKeyReadsAsTheSameKey() throws Exception {
        RSAPrivateCrtKey key = (RSAPrivateCrtKey) Pem.privateKey(RSA_TRADITIONAL);
        RSAPrivateCrtKey expected = (RSAPrivateCrtKey) bouncyCastle(RSA_TRADITIONAL);
        assertThat(key.getModulus()).isEqualTo(expected.getModulus());
        assertThat(key.getPrivateExponent()).isEqualTo(expected.getPrivateExponent());
        assertThat(((RSAPrivateCrtKey) Pem.privateKey(Pem.encode(key))).getModulus()).isEqualTo(expected.getModulus());
    }

    @Test
    void encryptedKeysAreRefusedByName() {
        String traditional = "" +
                "-----BEGIN EC PRIVATE KEY-----\n" +
                "Proc-Type: 4,ENCRYPTED\n" +
                "DEK-Info: AES-128-CBC,A6219B5270617EAD62F107911245B5D1\n" + "AAAA\n-----END EC PRIVATE KEY-----\n";
        assertThatThrownBy(() -> Pem.privateKey(traditional)).hasMessageContaining("encrypted keys are not supported");
        String pkcs8 = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assertThatThrownBy(() -> Pem.privateKey(pkcs8)).hasMessageContaining("found ENCRYPTED PRIVATE KEY")
                .hasMessageContaining("encrypted keys are not supported");
    }

    @Test
    void brokenKeysAndBlocksSayWhatIsWrong() {
        assertThatThrownBy(() -> Pem.privateKey("-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n"))
                .hasMessage("pem: not a valid private key: der: PrivateKeyInfo has no algorithm");
        assertThatThrownBy(() -> Pem.privateKey("-----BEGIN PRIVATE KEY-----\nMIIBAA==\n-----END PRIVATE KEY-----\n"))
                .hasMessageStartingWith("pem: not a valid private key: der: element at byte 0 claims 256 bytes");
        assertThatThrownBy(() -> Pem.privateKey("-----BEGIN EC PRIVATE KEY-----\nMAMCAQE=\n-----END EC PRIVATE KEY-----\n"))
                .hasMessage("pem: EC PRIVATE KEY without its curve (expected: parameters [0])");
        // a PrivateKeyInfo of X25519 (1.3.101.110), which no key here uses
        assertThatThrownBy(() -> Pem.privateKey("-----BEGIN PRIVATE KEY-----\nMAoCAQAwBQYDK2Vu\n-----END PRIVATE KEY-----\n"))
                .hasMessageStartingWith("pem: private key of algorithm 1.3.101.110 (expected: EC, RSA");
        assertThatThrownBy(() -> Pem.privateKey("nothing here")).hasMessage("pem: found nothing (expected: PRIVATE KEY)");
        assertThatThrownBy(() -> Pem.certificates("-----BEGIN CERTIFICATE-----\nAAAA\n"))
                .hasMessage("pem: CERTIFICATE block without its END line");
        assertThatThrownBy(() -> Pem.certificates("-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n"))
                .hasMessage("pem: BEGIN line \"-----BEGIN CERTIFICATE\" has no closing dashes "
                        + "(expected: -----BEGIN <label>-----)");
        assertThatThrownBy(() -> Pem.certificates("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"))
                .hasMessageStartingWith("pem: CERTIFICATE block is not valid base64");
    }

    @Test
    void textAroundBlocksIsIgnoredAndEveryBlockIsRead() throws Exception {
        var root = TestCertificates.root("root");
        var leaf = TestCertificates.leaf(root, "spiffe://cluster.local/ns/a/sa/b");
        String bundle = "Bag Attributes\n    friendlyName: leaf\n" + Pem.encode(leaf.cert()) + "subject=/O=root\n"
                + Pem.encode(root.cert());
        assertThat(Pem.certificates(bundle)).containsExactly(leaf.cert(), root.cert());
        assertThat(Pem.blocks(bundle)).extracting(Pem.Block::label).containsExactly("CERTIFICATE", "CERTIFICATE");
        assertThatThrownBy(() -> Pem.single(bundle, "CERTIFICATE"))
                .hasMessage("pem: more than one object (expected: one CERTIFICATE)");
        assertThat(Pem.encode(leaf.cert())).isEqualTo(bouncyCastlePem(leaf.cert()));
    }

    @Test
    void onlyCertificatesKeysCrlsAndBlocksAreEncoded() {
        assertThatThrownBy(() -> Pem.encode("text")).hasMessage("pem: cannot encode java.lang.String "
                + "(expected: X509Certificate, X509CRL, PrivateKey or Pem.Block)");
        assertThat(Pem.encode(new Pem.Block("X", new byte[] {1, 2, 3}))).isEqualTo("-----BEGIN X-----\nAQID\n-----END X-----\n");
        assertThat(Pem.encode(List.of())).isEmpty();
    }

    private static PrivateKey bouncyCastle(String pem) throws Exception {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o;
            while ((o = parser.readObject()) != null) {
                if (o instanceof PEMKeyPair pair) {
                    return new JcaPEMKeyConverter().getKeyPair(pair).getPrivate();
                }
            }
        }
        throw new AssertionError("no key");
    }

    private static String bouncyCastlePem(Object o) throws Exception {
        var out = new java.io.StringWriter();
        try (var w = new org.bouncycastle.openssl.jcajce.JcaPEMWriter(out)) {
            w.writeObject(o);
        }
        return out.toString();
    }
}
