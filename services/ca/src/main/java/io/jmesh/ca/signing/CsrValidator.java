package io.jmesh.ca.signing;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Pem;
import java.io.IOException;
import java.math.BigInteger;
import java.util.Set;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.pkcs.Attribute;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.crypto.params.RSAKeyParameters;
import org.bouncycastle.crypto.util.PublicKeyFactory;
import org.bouncycastle.operator.ContentVerifierProvider;
import org.bouncycastle.operator.DefaultDigestAlgorithmIdentifierFinder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.bc.BcECContentVerifierProviderBuilder;
import org.bouncycastle.operator.bc.BcRSAContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;

/**
 * Checks a PEM certificate signing request before anything is signed: size, PEM type, signature, key (ECDSA P-256
 * or P-384, or RSA of 2048 to 8192 bits with a public exponent from 3 to 2^31-1), signature algorithm (SHA-2
 * family) and subject alternative names
 * (exactly one URI, a SPIFFE id; no DNS names, IP addresses or e-mail addresses).
 *
 * <p>Stateless and thread-safe. CPU-bound (signature verification): call it off event loops.
 */
public final class CsrValidator {

    private static final int MIN_RSA_BITS = 2048;
    private static final int MAX_RSA_BITS = 8192;
    private static final BigInteger MIN_RSA_EXPONENT = BigInteger.valueOf(3);
    private static final int MAX_RSA_EXPONENT_BITS = 31;

    private static final Set<ASN1ObjectIdentifier> SIGNATURE_ALGORITHMS = Set.of(
            X9ObjectIdentifiers.ecdsa_with_SHA256, X9ObjectIdentifiers.ecdsa_with_SHA384,
            X9ObjectIdentifiers.ecdsa_with_SHA512, PKCSObjectIdentifiers.sha256WithRSAEncryption,
            PKCSObjectIdentifiers.sha384WithRSAEncryption, PKCSObjectIdentifiers.sha512WithRSAEncryption);

    private final int maxCsrBytes;
    // Bouncy Castle's lightweight verifiers take the request's key as it is encoded (no JCA key conversion)
    private static final BcECContentVerifierProviderBuilder EC_VERIFIERS =
            new BcECContentVerifierProviderBuilder(new DefaultDigestAlgorithmIdentifierFinder());
    private static final BcRSAContentVerifierProviderBuilder RSA_VERIFIERS =
            new BcRSAContentVerifierProviderBuilder(new DefaultDigestAlgorithmIdentifierFinder());

    /** @param maxCsrBytes the largest PEM text accepted, in characters */
    public CsrValidator(int maxCsrBytes) {
        this.maxCsrBytes = maxCsrBytes;
    }

    /**
     * Validates {@code pem}.
     *
     * @throws CsrException naming the first problem found
     */
    public ValidatedCsr validate(String pem) throws CsrException {
        if (pem == null || pem.isEmpty()) {
            throw new CsrException(CsrException.Problem.MALFORMED, "csr: empty (expected: a PEM CERTIFICATE REQUEST)");
        }
        if (pem.length() > maxCsrBytes) {
            throw new CsrException(CsrException.Problem.TOO_LARGE,
                    "csr: " + pem.length() + " bytes (expected: <= " + maxCsrBytes + ")");
        }
        PKCS10CertificationRequest csr;
        try {
            csr = CsrPem.parse(pem);
        } catch (IllegalArgumentException e) {
            throw new CsrException(CsrException.Problem.MALFORMED, "csr: " + e.getMessage());
        }
        SubjectPublicKeyInfo spki = csr.getSubjectPublicKeyInfo();
        ValidatedCsr.KeyType keyType = keyType(spki);
        ASN1ObjectIdentifier sigAlg = csr.getSignatureAlgorithm().getAlgorithm();
        if (!SIGNATURE_ALGORITHMS.contains(sigAlg)) {
            throw new CsrException(CsrException.Problem.UNSUPPORTED_KEY, "csr: signature algorithm " + sigAlg
                    + " (expected: ECDSA or RSA with SHA-256, SHA-384 or SHA-512)");
        }
        verifySignature(csr, spki, keyType);
        SpiffeId identity = identity(csr);
        return new ValidatedCsr(spki, keyType, identity);
    }

    private static void verifySignature(PKCS10CertificationRequest csr, SubjectPublicKeyInfo spki,
            ValidatedCsr.KeyType keyType) throws CsrException {
        boolean valid;
        try {
            ContentVerifierProvider verifier = keyType.rsa() ? RSA_VERIFIERS.build(rsaKey(spki))
                    : EC_VERIFIERS.build(PublicKeyFactory.createKey(spki));
            valid = csr.isSignatureValid(verifier);
        } catch (OperatorCreationException | PKCSException | IOException | RuntimeException e) {
            throw new CsrException(CsrException.Problem.MALFORMED,
                    "csr: signature cannot be checked: " + e.getMessage());
        }
        if (!valid) {
            throw new CsrException(CsrException.Problem.MALFORMED,
                    "csr: signature does not verify with the request's own public key");
        }
    }

    /**
     * The request's RSA key as encoded, without Bouncy Castle's checks of the modulus: its Miller-Rabin round is a
     * full-size modular exponentiation (about 150 ms at 8192 bits) on every modulus it has not seen, which any
     * caller could make the signing threads pay per request. The quality of the requester's own key is its
     * concern, as for Go's and istiod's CSR checks; its size and exponent are checked by {@link #keyType}.
     */
    private static RSAKeyParameters rsaKey(SubjectPublicKeyInfo spki) throws IOException {
        org.bouncycastle.asn1.pkcs.RSAPublicKey rsa =
                org.bouncycastle.asn1.pkcs.RSAPublicKey.getInstance(spki.parsePublicKey());
        return new RSAKeyParameters(false, rsa.getModulus(), rsa.getPublicExponent(), true);
    }

    static ValidatedCsr.KeyType keyType(SubjectPublicKeyInfo spki) throws CsrException {
        ASN1ObjectIdentifier alg = spki.getAlgorithm().getAlgorithm();
        if (X9ObjectIdentifiers.id_ecPublicKey.equals(alg)) {
            ASN1Primitive params = spki.getAlgorithm().getParameters() == null ? null
                    : spki.getAlgorithm().getParameters().toASN1Primitive();
            ValidatedCsr.KeyType type;
            if (SECObjectIdentifiers.secp256r1.equals(params)) {
                type = ValidatedCsr.KeyType.EC_P256;
            } else if (SECObjectIdentifiers.secp384r1.equals(params)) {
                type = ValidatedCsr.KeyType.EC_P384;
            } else {
                throw new CsrException(CsrException.Problem.UNSUPPORTED_KEY, "csr: ECDSA key on curve "
                        + shown(params) + " (expected: P-256 or P-384 as a named curve)");
            }
            uncompressedPoint(spki, type == ValidatedCsr.KeyType.EC_P256 ? 32 : 48);
            return type;
        }
        if (PKCSObjectIdentifiers.rsaEncryption.equals(alg)) {
            int bits;
            BigInteger exponent;
            try {
                org.bouncycastle.asn1.pkcs.RSAPublicKey rsa =
                        org.bouncycastle.asn1.pkcs.RSAPublicKey.getInstance(spki.parsePublicKey());
                BigInteger modulus = rsa.getModulus();
                bits = modulus.bitLength();
                exponent = rsa.getPublicExponent();
            } catch (IOException | RuntimeException e) {
                throw new CsrException(CsrException.Problem.MALFORMED, "csr: RSA key undecodable: " + e.getMessage());
            }
            if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
                throw new CsrException(CsrException.Problem.UNSUPPORTED_KEY, "csr: RSA key of " + bits
                        + " bits (expected: " + MIN_RSA_BITS + ".." + MAX_RSA_BITS + ")");
            }
            // what every peer can use: ring (Istio's ztunnel) takes 3..2^33-1, Go up to 2^31-1
            if (exponent.compareTo(MIN_RSA_EXPONENT) < 0 || !exponent.testBit(0)
                    || exponent.bitLength() > MAX_RSA_EXPONENT_BITS) {
                throw new CsrException(CsrException.Problem.UNSUPPORTED_KEY, "csr: RSA public exponent "
                        + (exponent.bitLength() > MAX_RSA_EXPONENT_BITS ? "of " + exponent.bitLength() + " bits"
                                : exponent.toString())
                        + " (expected: an odd number from 3 to 2^31-1, e.g. 65537)");
            }
            return ValidatedCsr.KeyType.RSA;
        }
        throw new CsrException(CsrException.Problem.UNSUPPORTED_KEY, "csr: key algorithm " + alg
                + " (expected: ECDSA P-256/P-384 or RSA >= 2048)");
    }

    /**
     * The EC point must be in the uncompressed form ({@code 04 || x || y}): the certificate carries the key as the
     * request encoded it, and Bouncy Castle also reads the compressed and the hybrid forms (RFC 5480 forbids the
     * hybrid one), which the JDK and Go cannot read in a certificate.
     */
    private static void uncompressedPoint(SubjectPublicKeyInfo spki, int coordinateBytes) throws CsrException {
        byte[] point;
        try {
            point = spki.getPublicKeyData().getOctets();
        } catch (RuntimeException e) {
            throw new CsrException(CsrException.Problem.MALFORMED, "csr: ECDSA public key undecodable: "
                    + e.getMessage());
        }
        if (point.length != 1 + 2 * coordinateBytes || point[0] != 0x04) {
            throw new CsrException(CsrException.Problem.UNSUPPORTED_KEY, "csr: ECDSA public key of " + point.length
                    + " bytes starting 0x" + (point.length == 0 ? "" : String.format("%02x", point[0]))
                    + " (expected: the uncompressed point, 0x04 and " + 2 * coordinateBytes + " bytes)");
        }
    }

    private static SpiffeId identity(PKCS10CertificationRequest csr) throws CsrException {
        GeneralNames sans = null;
        for (Attribute attr : csr.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest)) {
            if (attr.getAttrValues().size() == 0) {
                continue;
            }
            GeneralNames g;
            try {
                Extensions exts = Extensions.getInstance(attr.getAttrValues().getObjectAt(0));
                // parses the extension's value: a corrupted SAN encoding fails here, not only a corrupted request
                g = GeneralNames.fromExtensions(exts, Extension.subjectAlternativeName);
            } catch (RuntimeException e) {
                throw new CsrException(CsrException.Problem.MALFORMED,
                        "csr: extension request undecodable: " + e.getMessage());
            }
            if (g != null) {
                if (sans != null) {
                    throw new CsrException(CsrException.Problem.INVALID_SAN,
                            "csr: subjectAltName requested twice (expected: one extension with one URI)");
                }
                sans = g;
            }
        }
        if (sans == null || sans.getNames().length == 0) {
            throw new CsrException(CsrException.Problem.INVALID_SAN,
                    "csr: no subjectAltName (expected: exactly one URI SAN, the SPIFFE id)");
        }
        String uri = null;
        int uris = 0;
        for (GeneralName n : sans.getNames()) {
            if (n.getTagNo() != GeneralName.uniformResourceIdentifier) {
                throw new CsrException(CsrException.Problem.INVALID_SAN, "csr: subjectAltName has a "
                        + sanKind(n.getTagNo()) + " '" + shown(n.getName()) + "' (expected: exactly one URI SAN, no"
                        + " others)");
            }
            uris++;
            uri = n.getName().toString();
        }
        if (uris != 1) {
            throw new CsrException(CsrException.Problem.INVALID_SAN, "csr: " + uris
                    + " URI SANs (expected: exactly one, the SPIFFE id)");
        }
        SpiffeId id = SpiffeId.tryParse(uri);
        if (id == null) {
            throw new CsrException(CsrException.Problem.INVALID_SAN, "csr: URI SAN '" + uri
                    + "' (expected: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)");
        }
        return id;
    }

    /**
     * {@code value} as text for a message, or its DER in hex when its text cannot be had: Bouncy Castle decodes a
     * string type when printing it and throws on bytes that are not, say, UTF-8 (a curve parameter or a directory
     * name in a UTF8String), which would have escaped as an internal error (found by CsrFuzz).
     */
    static String shown(ASN1Encodable value) {
        if (value == null) {
            return "none";
        }
        try {
            return value.toString();
        } catch (RuntimeException e) {
            try {
                String hex = org.bouncycastle.util.encoders.Hex.toHexString(value.toASN1Primitive().getEncoded());
                return "DER 0x" + (hex.length() > 64 ? hex.substring(0, 64) + "..." : hex);
            } catch (IOException | RuntimeException again) {
                return "(unreadable " + value.getClass().getSimpleName() + ")";
            }
        }
    }

    private static String sanKind(int tag) {
        return switch (tag) {
            case GeneralName.dNSName -> "DNS name";
            case GeneralName.iPAddress -> "IP address";
            case GeneralName.rfc822Name -> "e-mail address";
            case GeneralName.directoryName -> "directory name";
            case GeneralName.otherName -> "otherName";
            case GeneralName.registeredID -> "registered id";
            default -> "name of type " + tag;
        };
    }
}
