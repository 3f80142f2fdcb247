package io.jmesh.ca.server;

import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.signing.Crypto;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Pem;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.KeyPair;
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
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The CA's own TLS serving certificate, issued by the CA to itself at start, at half-life and after every change
 * of signing material: URI SAN {@code spiffe://<td>/ns/istio-system/sa/ca}, plus the configured DNS names and IP
 * addresses (clients that verify a host name, e.g. {@code ca.istio-system.svc}, need them), EKU serverAuth.
 *
 * @param keyPem PKCS#8 private key
 * @param chainPem leaf, then the CA certificates up to (not including) the root
 * @param notAfter when it expires
 */
public record ServingCertificate(String keyPem, String chainPem, Instant notBefore, Instant notAfter) {

    /** The identity of the CA itself. */
    public static SpiffeId identity(String trustDomain) {
        return Caller.serviceIdentity(trustDomain, "ca");
    }

    /** When to renew: at half-life. */
    public Instant renewAt() {
        return notBefore.plus(Duration.between(notBefore, notAfter).dividedBy(2));
    }

    /** Issues a new serving certificate for the CA itself, never outliving the CA certificate. */
    public static ServingCertificate issue(CaAuthority ca, String trustDomain, List<String> dnsSans,
            List<String> ipSans, Duration validity, Instant now) {
        return issue(ca, trustDomain, "ca", dnsSans, ipSans, validity, now);
    }

    /**
     * Issues a serving certificate for a control-plane service ({@code spiffe://<td>/ns/istio-system/sa/<service>},
     * e.g. policy's delta ADS endpoint), never outliving the CA certificate.
     */
    public static ServingCertificate issue(CaAuthority ca, String trustDomain, String service, List<String> dnsSans,
            List<String> ipSans, Duration validity, Instant now) {
        KeyPair kp = Crypto.newEcP256();
        SubjectPublicKeyInfo spki = SubjectPublicKeyInfo.getInstance(kp.getPublic().getEncoded());
        Instant notBefore = now.minus(Duration.ofMinutes(5));
        Instant notAfter = now.plus(validity);
        Instant caNotAfter = ca.signingCert().getNotAfter().toInstant();
        if (notAfter.isAfter(caNotAfter)) {
            notAfter = caNotAfter;
        }
        List<GeneralName> names = new ArrayList<>();
        names.add(new GeneralName(GeneralName.uniformResourceIdentifier,
                Caller.serviceIdentity(trustDomain, service).uri()));
        dnsSans.forEach(d -> names.add(new GeneralName(GeneralName.dNSName, d)));
        for (String ip : ipSans) {
            try {
                names.add(new GeneralName(GeneralName.iPAddress,
                        new org.bouncycastle.asn1.DEROctetString(InetAddress.getByName(ip).getAddress())));
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("tls.ipSans: '" + ip + "' (expected: an IP address)", e);
            }
        }
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(ca.issuerName(), Crypto.randomSerial(),
                Date.from(notBefore), Date.from(notAfter), new X500Name("O=" + trustDomain + ",CN=jmesh " + service), spki);
        try {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            b.addExtension(Extension.subjectAlternativeName, false,
                    new GeneralNames(names.toArray(new GeneralName[0])));
            b.addExtension(Extension.subjectKeyIdentifier, false, new SubjectKeyIdentifier(CaAuthority.keyId(spki)));
            b.addExtension(Extension.authorityKeyIdentifier, false, new AuthorityKeyIdentifier(ca.authorityKeyId()));
            var signer = new JcaContentSignerBuilder(ca.signatureAlgorithm()).setProvider(Crypto.PROVIDER)
                    .build(ca.signingKey());
            StringBuilder chain = new StringBuilder(Crypto.pem("CERTIFICATE", b.build(signer).getEncoded()));
            // the chain tail minus its last element (the roots): clients hold the roots already
            List<String> tail = ca.chainTail();
            for (int i = 0; i < tail.size() - 1; i++) {
                chain.append(tail.get(i));
            }
            return new ServingCertificate(Pem.encodePrivateKey(kp.getPrivate()), chain.toString(), notBefore,
                    notAfter);
        } catch (IOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot issue the serving certificate: " + e.getMessage(), e);
        }
    }
}
