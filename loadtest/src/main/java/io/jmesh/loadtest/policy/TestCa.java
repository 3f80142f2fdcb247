package io.jmesh.loadtest.policy;

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

/** A throwaway root and one server certificate for 127.0.0.1, as PEM files, for a benchmark run. */
record TestCa(Path root, Path cert, Path key) {

    static TestCa create(Path dir) throws Exception {
        KeyPair rootKeys = ecKey();
        X500Name rootName = new X500Name("CN=bench root");
        var rb = new JcaX509v3CertificateBuilder(rootName, BigInteger.ONE, Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(Duration.ofDays(1))), rootName, rootKeys.getPublic());
        rb.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        var signer = new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate());
        X509Certificate root = new JcaX509CertificateConverter().getCertificate(rb.build(signer));
        KeyPair keys = ecKey();
        var lb = new JcaX509v3CertificateBuilder(rootName, BigInteger.TWO, Date.from(Instant.now().minusSeconds(60)),
                Date.from(Instant.now().plus(Duration.ofDays(1))), new X500Name("CN=bench"), keys.getPublic());
        lb.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.iPAddress, "127.0.0.1")}));
        X509Certificate leaf = new JcaX509CertificateConverter().getCertificate(lb.build(
                new JcaContentSignerBuilder("SHA256withECDSA").build(rootKeys.getPrivate())));
        return new TestCa(Files.writeString(dir.resolve("root.pem"), Pem.encode(root)),
                Files.writeString(dir.resolve("cert.pem"), Pem.encode(leaf)),
                Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(keys.getPrivate())));
    }

    private static KeyPair ecKey() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }
}
