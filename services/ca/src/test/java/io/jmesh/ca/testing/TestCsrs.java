package io.jmesh.ca.testing;

import io.jmesh.core.tls.Pem;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Certificate signing requests as ztunnel makes them (ECDSA P-256, SHA-256, empty subject, one URI SAN), and
 * deliberately wrong ones for tests of refusals.
 */
public final class TestCsrs {

    /** A CSR and the key pair it was made with. */
    public record Csr(KeyPair keyPair, String pem) {}

    private TestCsrs() {}

    /** A fresh ECDSA P-256 key pair (JDK provider). */
    public static KeyPair ecP256() {
        return keyPair("EC", new ECGenParameterSpec("secp256r1"), 0);
    }

    public static KeyPair ecP384() {
        return keyPair("EC", new ECGenParameterSpec("secp384r1"), 0);
    }

    public static KeyPair rsa(int bits) {
        return keyPair("RSA", null, bits);
    }

    /** A ztunnel-style CSR for one SPIFFE id. */
    public static Csr forIdentity(String spiffeId) {
        KeyPair kp = ecP256();
        return new Csr(kp, csr(kp, List.of(new GeneralName(GeneralName.uniformResourceIdentifier, spiffeId))));
    }

    /** A CSR with exactly these subject alternative names, signed by {@code kp}. */
    public static String csr(KeyPair kp, List<GeneralName> sans) {
        try {
            JcaPKCS10CertificationRequestBuilder b = new JcaPKCS10CertificationRequestBuilder(
                    new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), kp.getPublic());
            if (!sans.isEmpty()) {
                ExtensionsGenerator ext = new ExtensionsGenerator();
                ext.addExtension(Extension.subjectAlternativeName, true,
                        new GeneralNames(sans.toArray(new GeneralName[0])));
                b.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
            }
            String alg = "RSA".equals(kp.getPublic().getAlgorithm()) ? "SHA256withRSA" : "SHA256withECDSA";
            PKCS10CertificationRequest csr = b.build(new JcaContentSignerBuilder(alg).build(kp.getPrivate()));
            return io.jmesh.ca.signing.CsrPem.encode(csr);
        } catch (IOException | OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A CSR with these URI SANs and these DNS SANs. */
    public static String csr(List<String> uris, List<String> dnsNames) {
        List<GeneralName> sans = new ArrayList<>();
        uris.forEach(u -> sans.add(new GeneralName(GeneralName.uniformResourceIdentifier, u)));
        dnsNames.forEach(d -> sans.add(new GeneralName(GeneralName.dNSName, d)));
        return csr(ecP256(), sans);
    }

    private static KeyPair keyPair(String alg, ECGenParameterSpec spec, int bits) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance(alg);
            if (spec != null) {
                g.initialize(spec);
            } else {
                g.initialize(bits);
            }
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
