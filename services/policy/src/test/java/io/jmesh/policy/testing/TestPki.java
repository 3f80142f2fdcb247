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

    private TestPki(Path rootPem, Path certPem, Path keyPem, String roots) {
        this.rootPem = rootPem;
        this.certPem = certPem;
        this.keyPem = keyPem;
        this.roots = roots;
    }

    public static TestPki create(Path dir) throws Exception {
        KeyPair rootKeys = ecKey();
        X500Name rootName = new X500Name("CN=test root");
        var rb = new JcaX509v3CertificateBuilder(rootName, BigInteger.ONE, Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(Duration.ofDays(1))), rootName, rootKeys.getPublic());
        rb.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        X509Certificate root = new JcaX509CertificateConverter().getCertificate(
                rb.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));

        KeyPair keys = ecKey();
        var lb = new JcaX509v3CertificateBuilder(rootName, BigInteger.valueOf(System.nanoTime()),
                Date.from(Instant.now().minusSeconds(60)), Date.from(Instant.now().plus(Duration.ofHours(2))),
                new X500Name("CN=policy"), keys.getPublic());
        lb.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost")}));
        X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(
                lb.build(new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));

        Path rootPem = Files.writeString(dir.resolve("root.pem"), Pem.encode(root));
        Path certPem = Files.writeString(dir.resolve("cert.pem"), Pem.encode(leaf));
        Path keyPem = Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(keys.getPrivate()));
        return new TestPki(rootPem, certPem, keyPem, Files.readString(rootPem));
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
