package io.jmesh.ca.root;

import io.jmesh.ca.signing.Crypto;
import io.jmesh.core.tls.Certificates;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509ExtensionUtils;
import org.bouncycastle.operator.bc.BcDigestCalculatorProvider;
import org.bouncycastle.operator.DigestCalculator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.asn1.oiw.OIWObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;

/**
 * The CA's signing material at one moment: the certificate and key that sign workload certificates, the
 * intermediates between it and a root, and every trusted root (several during a root rotation). Immutable; a
 * root change builds a new one and swaps it in whole.
 *
 * <p>{@link #of} refuses material that cannot work: a key that does not match the certificate, a signing
 * certificate that is not a CA or has expired, or a chain that does not lead to one of the roots.
 */
public final class CaAuthority {

    private final X509Certificate signingCert;
    private final PrivateKey signingKey;
    private final List<X509Certificate> intermediates;
    private final List<X509Certificate> roots;
    private final String source;
    private final X500Name issuerName;
    private final byte[] authorityKeyId;
    private final String signatureAlgorithm;
    private final List<String> chainTail;
    private final List<String> rootPems;
    private final String id;

    private CaAuthority(X509Certificate signingCert, PrivateKey signingKey, List<X509Certificate> intermediates,
            List<X509Certificate> roots, String source) {
        this.signingCert = signingCert;
        this.signingKey = signingKey;
        this.intermediates = List.copyOf(intermediates);
        this.roots = List.copyOf(roots);
        this.source = source;
        this.issuerName = X500Name.getInstance(signingCert.getSubjectX500Principal().getEncoded());
        this.authorityKeyId = subjectKeyId(signingCert);
        this.signatureAlgorithm = Crypto.signatureAlgorithm(signingKey);
        List<String> pems = new ArrayList<>();
        for (X509Certificate r : this.roots) {
            pems.add(pem(r));
        }
        this.rootPems = List.copyOf(pems);
        List<String> tail = new ArrayList<>();
        if (!this.roots.contains(signingCert)) {
            tail.add(pem(signingCert));
        }
        for (X509Certificate i : this.intermediates) {
            tail.add(pem(i));
        }
        tail.add(String.join("", rootPems));
        this.chainTail = List.copyOf(tail);
        this.id = fingerprint(signingCert).substring(0, 16);
    }

    /**
     * Validates and assembles signing material.
     *
     * @param intermediates certificates between the signing certificate and a root, nearest first (may be empty)
     * @param roots every trusted root; the chain must end at one of them
     * @param source where it came from, for logs ({@code state-dir:<path>}, {@code plugin:<path>})
     * @throws IllegalArgumentException naming the problem
     */
    public static CaAuthority of(X509Certificate signingCert, PrivateKey signingKey,
            List<X509Certificate> intermediates, List<X509Certificate> roots, String source, Instant now) {
        Objects.requireNonNull(signingCert, "signingCert");
        Objects.requireNonNull(signingKey, "signingKey");
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("roots: none (expected: at least one trusted root)");
        }
        if (signingCert.getBasicConstraints() < 0) {
            throw new IllegalArgumentException("signing certificate " + describe(signingCert)
                    + " is not a CA (expected: basicConstraints CA:true)");
        }
        boolean[] ku = signingCert.getKeyUsage();
        if (ku != null && (ku.length < 6 || !ku[5])) {
            throw new IllegalArgumentException("signing certificate " + describe(signingCert)
                    + " may not sign certificates (expected: keyUsage keyCertSign)");
        }
        if (!Certificates.keysMatch(signingKey, signingCert.getPublicKey())) {
            throw new IllegalArgumentException("signing key does not match signing certificate "
                    + describe(signingCert));
        }
        if (signingCert.getNotAfter().toInstant().isBefore(now)) {
            throw new IllegalArgumentException("signing certificate " + describe(signingCert) + " expired at "
                    + signingCert.getNotAfter().toInstant());
        }
        for (X509Certificate root : roots) {
            if (root.getBasicConstraints() < 0) {
                throw new IllegalArgumentException("root " + describe(root)
                        + " is not a CA (expected: basicConstraints CA:true)");
            }
        }
        List<X509Certificate> path = new ArrayList<>();
        path.add(signingCert);
        path.addAll(intermediates);
        try {
            Certificates.verifyChain(path, roots, Date.from(now));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("signing certificate " + describe(signingCert)
                    + " does not chain to a trusted root: " + e.getMessage(), e);
        }
        return new CaAuthority(signingCert, signingKey, intermediates, roots, source);
    }

    public X509Certificate signingCert() {
        return signingCert;
    }

    public PrivateKey signingKey() {
        return signingKey;
    }

    public List<X509Certificate> intermediates() {
        return intermediates;
    }

    /**
     * What a holder of only the roots needs to verify a CRL this CA signs: empty when the signing certificate is a
     * root, else the signing certificate and the intermediates above it, one PEM each.
     */
    public List<String> crlIssuerChainPems() {
        if (roots().contains(signingCert)) {
            return List.of();
        }
        List<String> chain = new java.util.ArrayList<>();
        chain.add(pem(signingCert));
        intermediates.forEach(c -> chain.add(pem(c)));
        return List.copyOf(chain);
    }

    /** Every trusted root, the one the signing certificate chains to included. */
    public List<X509Certificate> roots() {
        return roots;
    }

    /** One PEM certificate per trusted root. */
    public List<String> rootPems() {
        return rootPems;
    }

    /** Every trusted root as one PEM string (the content of {@code root-cert.pem}). */
    public String rootsPem() {
        return String.join("", rootPems);
    }

    /** The subject of the signing certificate, in its exact encoding (the issuer of every leaf). */
    public X500Name issuerName() {
        return issuerName;
    }

    /** The signing certificate's subject key identifier: every leaf's authority key identifier. */
    public byte[] authorityKeyId() {
        return authorityKeyId.clone();
    }

    public String signatureAlgorithm() {
        return signatureAlgorithm;
    }

    /**
     * What follows the leaf in an Istio {@code cert_chain}: the signing certificate unless it is itself a root,
     * then the intermediates, then every trusted root concatenated in one element.
     */
    public List<String> chainTail() {
        return chainTail;
    }

    public String source() {
        return source;
    }

    /** A short stable id of the signing certificate (hex of its SHA-256), for logs. */
    public String id() {
        return id;
    }

    /** Whether {@code other} signs with the same certificate and key and trusts the same roots. */
    public boolean sameMaterial(CaAuthority other) {
        return other != null && signingCert.equals(other.signingCert) && signingKey.equals(other.signingKey)
                && intermediates.equals(other.intermediates) && roots.equals(other.roots);
    }

    /** The root the signing certificate chains to (itself when it is a root). */
    public X509Certificate signingRoot() {
        if (roots.contains(signingCert)) {
            return signingCert;
        }
        X509Certificate top = intermediates.isEmpty() ? signingCert : intermediates.get(intermediates.size() - 1);
        for (X509Certificate r : roots) {
            if (r.getSubjectX500Principal().equals(top.getIssuerX500Principal())) {
                try {
                    top.verify(r.getPublicKey(), Crypto.PROVIDER);
                    return r;
                } catch (GeneralSecurityException e) {
                    // another root with the same name
                }
            }
        }
        return roots.get(0);
    }

    public static String describe(X509Certificate c) {
        return "'" + c.getSubjectX500Principal().getName() + "' (serial " + c.getSerialNumber().toString(16) + ")";
    }

    public static String pem(X509Certificate c) {
        try {
            return Crypto.pem("CERTIFICATE", c.getEncoded());
        } catch (CertificateEncodingException e) {
            throw new IllegalArgumentException("certificate: cannot encode: " + e.getMessage(), e);
        }
    }

    /** Hex SHA-256 of the certificate's DER. */
    public static String fingerprint(X509Certificate c) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The certificate's subject key identifier extension, or the RFC 5280 method 1 value computed from its key. */
    static byte[] subjectKeyId(X509Certificate c) {
        byte[] ext = c.getExtensionValue(Extension.subjectKeyIdentifier.getId());
        if (ext != null) {
            return ASN1OctetString.getInstance(ASN1OctetString.getInstance(ext).getOctets()).getOctets();
        }
        return keyId(SubjectPublicKeyInfo.getInstance(c.getPublicKey().getEncoded()));
    }

    /** RFC 5280 method 1: SHA-1 of the subject public key bits. */
    public static byte[] keyId(SubjectPublicKeyInfo spki) {
        try {
            DigestCalculator sha1 = new BcDigestCalculatorProvider()
                    .get(new AlgorithmIdentifier(OIWObjectIdentifiers.idSHA1));
            return new X509ExtensionUtils(sha1).createSubjectKeyIdentifier(spki).getKeyIdentifier();
        } catch (OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }
}
