package io.jmesh.core.tls;

import io.jmesh.core.identity.SpiffeId;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Inspection and verification of X.509 certificates carrying SPIFFE identities. */
public final class Certificates {

    private static final int SAN_URI = 6;
    private static final int SAN_DNS = 2;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Certificates() {}

    /**
     * Whether {@code key} is the private half of {@code publicKey} (EC, RSA or Ed25519): signs a random challenge
     * with it and verifies the signature.
     */
    public static boolean keysMatch(PrivateKey key, PublicKey publicKey) {
        String algorithm = switch (key.getAlgorithm()) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> null;
        };
        if (algorithm == null) {
            return false;
        }
        try {
            byte[] challenge = new byte[32];
            RANDOM.nextBytes(challenge);
            Signature s = Signature.getInstance(algorithm);
            s.initSign(key);
            s.update(challenge);
            byte[] signature = s.sign();
            Signature v = Signature.getInstance(algorithm);
            v.initVerify(publicKey);
            v.update(challenge);
            return v.verify(signature);
        } catch (GeneralSecurityException | RuntimeException e) {
            return false; // e.g. an RSA public key given for an EC private key
        }
    }

    /** Every URI subject alternative name of {@code cert}, in order. */
    public static List<String> uriSans(X509Certificate cert) {
        return sans(cert, SAN_URI);
    }

    /** Every DNS subject alternative name of {@code cert}, in order. */
    public static List<String> dnsSans(X509Certificate cert) {
        return sans(cert, SAN_DNS);
    }

    private static List<String> sans(X509Certificate cert, int wanted) {
        List<String> out = new ArrayList<>();
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (san.size() >= 2 && san.get(0) instanceof Integer type && type == wanted) {
                        out.add(String.valueOf(san.get(1)));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            return List.of();
        }
        return out;
    }

    /** The SPIFFE identities among {@code cert}'s URI SANs (unparseable ones are skipped). */
    public static List<SpiffeId> spiffeIds(X509Certificate cert) {
        List<SpiffeId> out = new ArrayList<>();
        for (String uri : uriSans(cert)) {
            SpiffeId id = SpiffeId.tryParse(uri);
            if (id != null) {
                out.add(id);
            }
        }
        return out;
    }

    /** The single SPIFFE identity of a workload certificate, or null when it has none or several. */
    public static SpiffeId spiffeId(X509Certificate cert) {
        List<SpiffeId> ids = spiffeIds(cert);
        return ids.size() == 1 ? ids.get(0) : null;
    }

    /** Lower-case hex of the serial number, as the CA reports and revokes it. */
    public static String serialHex(X509Certificate cert) {
        return cert.getSerialNumber().toString(16);
    }

    /**
     * Verifies that {@code chain} (leaf first) chains to one of {@code roots} at {@code at}, without revocation
     * checks (revocation is the caller's, against the mesh CRL).
     *
     * @throws GeneralSecurityException with the validator's reason when it does not
     */
    public static void verifyChain(List<X509Certificate> chain, Collection<X509Certificate> roots, Date at)
            throws GeneralSecurityException {
        if (chain.isEmpty()) {
            throw new GeneralSecurityException("empty certificate chain");
        }
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate root : roots) {
            anchors.add(new TrustAnchor(root, null));
        }
        if (anchors.isEmpty()) {
            throw new GeneralSecurityException("no trusted roots");
        }
        // a chain that includes the root itself is fine: drop anything that is an anchor
        List<X509Certificate> path = new ArrayList<>();
        for (X509Certificate c : chain) {
            if (!roots.contains(c)) {
                path.add(c);
            }
        }
        if (path.isEmpty()) {
            return;
        }
        PKIXParameters params = new PKIXParameters(anchors);
        params.setRevocationEnabled(false);
        params.setDate(at);
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(path), params);
    }
}
