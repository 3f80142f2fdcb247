package io.jmesh.ca.root;

import io.jmesh.ca.signing.Crypto;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Generates self-signed mesh roots: ECDSA P-256, CA:true, keyCertSign + cRLSign. */
public final class RootGenerator {

    /** A new root and its key. */
    public record GeneratedRoot(X509Certificate certificate, PrivateKey key) {}

    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'")
            .withZone(ZoneOffset.UTC);

    private RootGenerator() {}

    /**
     * A root valid from {@code now} (backdated an hour for skewed clocks) for {@code validity}.
     *
     * @param organization the subject's O= (Istio puts the trust domain there)
     */
    public static GeneratedRoot generate(String organization, Duration validity, Instant now) {
        KeyPair kp = Crypto.newEcP256();
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.O, organization)
                .addRDN(BCStyle.CN, "jmesh root CA " + STAMP.format(now))
                .build();
        SubjectPublicKeyInfo spki = SubjectPublicKeyInfo.getInstance(kp.getPublic().getEncoded());
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(subject, Crypto.randomSerial(),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(validity)), subject, spki);
        try {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature));
            b.addExtension(Extension.subjectKeyIdentifier, false,
                    new SubjectKeyIdentifier(CaAuthority.keyId(spki)));
            var signer = new JcaContentSignerBuilder("SHA256withECDSA").setProvider(Crypto.PROVIDER)
                    .build(kp.getPrivate());
            X509Certificate cert = new JcaX509CertificateConverter().getCertificate(b.build(signer));
            return new GeneratedRoot(cert, kp.getPrivate());
        } catch (CertIOException | OperatorCreationException | CertificateException e) {
            throw new IllegalStateException("cannot generate a root: " + e.getMessage(), e);
        }
    }
}
