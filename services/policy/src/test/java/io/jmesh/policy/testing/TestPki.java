package io.jmesh.policy.testing;

import io.jmesh.core.tls.Pem;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** A throwaway root and a server certificate for 127.0.0.1/localhost, written as PEM files. */
public final class TestPki {

    public final Path rootPem;
    public final Path certPem;
    public final Path keyPem;
    public final String roots;
    private final KeyPair rootKeys;

    private TestPki(Path rootPem, Path certPem, Path keyPem, String roots, KeyPair rootKeys) {
        this.rootPem = rootPem;
        this.certPem = certPem;
        this.keyPem = keyPem;
        this.roots = roots;
        this.rootKeys = rootKeys;
    }

    private static final X500Name ROOT_NAME = new X500Name("CN=test root");

    public static TestPki create(Path dir) throws Exception {
        KeyPair rootKeys = ecKey();
        var rb = new JcaX509v3CertificateBuilder(ROOT_NAME, BigInteger.ONE, Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(Duration.ofDays(1))), ROOT_NAME, rootKeys.getPublic());
        rb.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        X509Certificate root = new JcaX509CertificateConverter().getCertificate(
                rb.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));
        Path rootPem = Files.writeString(dir.resolve("root.pem"), Pem.encode(root));
        TestPki pki = new TestPki(rootPem, dir.resolve("cert.pem"), dir.resolve("key.pem"), Files.readString(rootPem),
                rootKeys);
        pki.issue(dir);
        return pki;
    }

    /**
     * Writes a new server certificate for 127.0.0.1/localhost under this root, and its key, as {@code cert.pem} and
     * {@code key.pem} in {@code dir}.
     *
     * @return the certificate
     */
    public X509Certificate issue(Path dir) throws Exception {
        KeyPair keys = ecKey();
        var lb = new JcaX509v3CertificateBuilder(ROOT_NAME, BigInteger.valueOf(System.nanoTime()),
                Date.from(Instant.now().minusSeconds(60)), Date.from(Instant.now().plus(Duration.ofHours(2))),
                new X500Name("CN=policy"), keys.getPublic());
        lb.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost")}));
        X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(
                lb.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));
        Files.writeString(dir.resolve("cert.pem"), Pem.encode(leaf));
        Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(keys.getPrivate()));
        return leaf;
    }

    public String cert() throws Exception {
        return Files.readString(certPem);
    }

    public String key() throws Exception {
        return Files.readString(keyPem);
    }

    private static KeyPair ecKey() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }
}
