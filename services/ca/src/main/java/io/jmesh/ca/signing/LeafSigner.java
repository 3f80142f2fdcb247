package io.jmesh.ca.signing;

import io.jmesh.ca.root.CaAuthority;
import java.io.IOException;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Signs workload certificates with the profile of the mesh: empty subject, the SPIFFE id as the only (critical)
 * subject alternative name, CA:false, extended key usage serverAuth + clientAuth, key usage digitalSignature (plus
 * keyEncipherment for RSA keys), a random 128-bit serial, subject and authority key identifiers, and a not-before
 * backdated by {@code backdate} for peers whose clocks lag.
 *
 * <p>Thread-safe; CPU-bound (one signature per call): call it off event loops.
 */
public final class LeafSigner {

    private static final X500Name EMPTY_SUBJECT = new X500Name(new org.bouncycastle.asn1.x500.RDN[0]);
    private static final ExtendedKeyUsage EKU = new ExtendedKeyUsage(
            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth});

    private final Duration backdate;

    public LeafSigner(Duration backdate) {
        this.backdate = backdate;
    }

    /**
     * Signs {@code csr}'s key and identity for {@code validity} from {@code now}.
     *
     * @throws IllegalStateException when the CA key cannot sign (a broken plug-in key)
     */
    public IssuedLeaf sign(ValidatedCsr csr, Duration validity, CaAuthority ca, Instant now) {
        BigInteger serial = Crypto.randomSerial();
        Instant notBefore = now.minus(backdate);
        Instant notAfter = now.plus(validity);
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(ca.issuerName(), serial, Date.from(notBefore),
                Date.from(notAfter), EMPTY_SUBJECT, csr.publicKey());
        try {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(csr.keyType().rsa()
                    ? KeyUsage.digitalSignature | KeyUsage.keyEncipherment : KeyUsage.digitalSignature));
            b.addExtension(Extension.extendedKeyUsage, false, EKU);
            // RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical
            b.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(
                    new GeneralName(GeneralName.uniformResourceIdentifier, csr.identity().uri())));
            b.addExtension(Extension.subjectKeyIdentifier, false,
                    new SubjectKeyIdentifier(CaAuthority.keyId(csr.publicKey())));
            b.addExtension(Extension.authorityKeyIdentifier, false,
                    new AuthorityKeyIdentifier(ca.authorityKeyId()));
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode certificate extensions: " + e.getMessage(), e);
        }
        X509CertificateHolder holder = b.build(signer(ca));
        List<String> chain = new ArrayList<>(1 + ca.chainTail().size());
        try {
            chain.add(Crypto.pem("CERTIFICATE", holder.getEncoded()));
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode certificate: " + e.getMessage(), e);
        }
        chain.addAll(ca.chainTail());
        return new IssuedLeaf(serial, notBefore, notAfter, List.copyOf(chain));
    }

    private static ContentSigner signer(CaAuthority ca) {
        try {
            return new JcaContentSignerBuilder(ca.signatureAlgorithm()).setProvider(Crypto.PROVIDER)
                    .setSecureRandom(Crypto.random()).build(ca.signingKey());
        } catch (OperatorCreationException e) {
            throw new IllegalStateException("ca key cannot sign with " + ca.signatureAlgorithm() + ": "
                    + e.getMessage(), e);
        }
    }
}
