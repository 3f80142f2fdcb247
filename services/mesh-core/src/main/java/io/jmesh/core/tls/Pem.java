package io.jmesh.core.tls;

import java.io.ByteArrayInputStream;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * PEM encoding and decoding of certificates and private keys, with the JDK alone (RFC 7468 text around DER).
 *
 * <p>Decoding is strict about the object type: a key where a certificate is expected is an error that says what was
 * found, so a misconfigured file or a wrong CA answer is reported precisely. Text outside the blocks is ignored (as
 * OpenSSL's "Bag Attributes" lines); a block's BEGIN line starts a line (after whitespace at most), as RFC 7468 and
 * Go's and OpenSSL's readers have it. Private keys are read in PKCS#8 ({@code PRIVATE KEY}) and in OpenSSL's
 * traditional forms ({@code EC PRIVATE KEY}, SEC 1; {@code RSA PRIVATE KEY}, PKCS#1); encrypted keys are refused.
 * Certificate requests are DER for the CA to parse ({@link #single}).
 */
public final class Pem {

    private static final String BEGIN = "-----BEGIN ";
    private static final String END = "-----END ";
    private static final String DASHES = "-----";
    private static final byte[] EC_PUBLIC_KEY = Der.oid("1.2.840.10045.2.1");
    private static final byte[] RSA_ENCRYPTION = Der.oid("1.2.840.113549.1.1.1");
    /** PKCS#8's key algorithms, by object identifier, and the JDK's names of their key factories. */
    private static final Map<String, String> KEY_ALGORITHMS = Map.of(
            "1.2.840.10045.2.1", "EC",
            "1.2.840.113549.1.1.1", "RSA",
            "1.2.840.113549.1.1.10", "RSASSA-PSS",
            "1.3.101.112", "Ed25519",
            "1.3.101.113", "Ed448");

    private Pem() {}

    /**
     * One PEM block: its label ({@code CERTIFICATE}, {@code PRIVATE KEY}, ...) and the DER it carries.
     *
     * @param label the text between {@code -----BEGIN } and {@code -----}
     * @param der the decoded contents
     */
    public record Block(String label, byte[] der) {}

    /** Every block of {@code pem}, in order; throws naming the block that is not well-formed. */
    public static List<Block> blocks(String pem) {
        List<Block> out = new ArrayList<>();
        int at = 0;
        while (true) {
            int begin = pem.indexOf(BEGIN, at);
            if (begin < 0) {
                return out;
            }
            // a BEGIN right after a block's END line is one too (files joined by cat without a last newline)
            if (!startsALine(pem, begin) && !(begin == at && !out.isEmpty())) {
                at = begin + BEGIN.length(); // text that mentions a BEGIN line is not one
                continue;
            }
            int labelEnd = pem.indexOf(DASHES, begin + BEGIN.length());
            int lineEnd = pem.indexOf('\n', begin);
            if (labelEnd < 0 || (lineEnd >= 0 && labelEnd > lineEnd)) {
                String line = pem.substring(begin, lineEnd < 0 ? pem.length() : lineEnd).strip();
                throw new IllegalArgumentException("pem: BEGIN line \"" + (line.length() > 60 ? line.substring(0, 60)
                        + "..." : line) + "\" has no closing dashes (expected: -----BEGIN <label>-----)");
            }
            String label = pem.substring(begin + BEGIN.length(), labelEnd);
            String endLine = END + label + DASHES;
            // after the BEGIN line's closing dashes: an END line sharing them ("-----BEGIN X-----END X-----") is none
            int end = pem.indexOf(endLine, labelEnd + DASHES.length());
            if (end < 0) {
                throw new IllegalArgumentException("pem: " + label + " block without its END line");
            }
            String body = pem.substring(labelEnd + DASHES.length(), end);
            if (body.indexOf(':') >= 0) {
                // RFC 1421 headers: Proc-Type and DEK-Info, i.e. OpenSSL's encrypted traditional keys
                throw new IllegalArgumentException("pem: " + label + " block has headers (encrypted keys are not "
                        + "supported: expected an unencrypted PRIVATE KEY)");
            }
            try {
                out.add(new Block(label, Base64.getDecoder().decode(withoutWhitespace(body))));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("pem: " + label + " block is not valid base64: " + e.getMessage(), e);
            }
            at = end + endLine.length();
        }
    }

    /**
     * Whether only whitespace stands between the line's start and {@code at}: RFC 7468's lax boundary
     * ({@code *W preeb}), where Go's and OpenSSL's readers want it at the line's start too.
     */
    private static boolean startsALine(String pem, int at) {
        for (int i = at - 1; i >= 0; i--) {
            char c = pem.charAt(i);
            if (c == '\n') {
                return true;
            }
            if (!laxWhitespace(c)) {
                return false;
            }
        }
        return true;
    }

    /**
     * RFC 7468's whitespace ({@code W}: space, tab, CR, LF, vertical tab, form feed), which a lax parser skips; not
     * Java's wider {@link Character#isWhitespace} (the information separators U+001C to U+001F, Unicode spaces).
     */
    private static boolean laxWhitespace(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\u000B' || c == '\f';
    }

    /** The base64 of a block, {@link #laxWhitespace} taken out; any other stray character is then an error. */
    private static String withoutWhitespace(String body) {
        StringBuilder b = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (!laxWhitespace(c)) {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** Reads every certificate in {@code pem}, in order. At least one is required. */
    public static List<X509Certificate> certificates(String pem) {
        List<X509Certificate> out = new ArrayList<>();
        CertificateFactory factory = null;
        for (Block b : blocks(pem)) {
            if (!b.label().equals("CERTIFICATE") && !b.label().equals("X509 CERTIFICATE")) {
                throw new IllegalArgumentException("pem: found " + b.label() + " (expected: CERTIFICATE)");
            }
            try {
                if (factory == null) {
                    factory = CertificateFactory.getInstance("X.509");
                }
                out.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(b.der())));
            } catch (GeneralSecurityException | RuntimeException e) {
                throw new IllegalArgumentException("pem: not a valid certificate: " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("pem: no CERTIFICATE block found");
        }
        return List.copyOf(out);
    }

    /**
     * {@code pem} itself once every block of it has parsed as a certificate (a roots file); otherwise throws with
     * the reason, prefixed by the configuration {@code field} it came from.
     */
    public static String checkedRoots(String field, String pem) {
        try {
            certificates(pem);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": " + e.getMessage(), e);
        }
        return pem;
    }

    public static X509Certificate certificate(String pem) {
        List<X509Certificate> certs = certificates(pem);
        if (certs.size() != 1) {
            throw new IllegalArgumentException("pem: " + certs.size() + " certificates (expected: exactly 1)");
        }
        return certs.get(0);
    }

    /**
     * The DER of the one block of {@code pem}, which must be labelled one of {@code labels} (the first names it in
     * errors): nothing else, and nothing more.
     */
    public static byte[] single(String pem, String... labels) {
        List<Block> blocks = blocks(pem);
        if (blocks.isEmpty()) {
            throw new IllegalArgumentException("pem: found nothing (expected: " + labels[0] + ")");
        }
        Block b = blocks.get(0);
        if (!List.of(labels).contains(b.label())) {
            throw new IllegalArgumentException("pem: found " + b.label() + " (expected: " + labels[0] + ")");
        }
        if (blocks.size() > 1) {
            throw new IllegalArgumentException("pem: more than one object (expected: one " + labels[0] + ")");
        }
        return b.der();
    }

    /** Reads one private key in PKCS#8 ({@code PRIVATE KEY}) or traditional ({@code EC/RSA PRIVATE KEY}) form. */
    public static PrivateKey privateKey(String pem) {
        Block key = null;
        for (Block b : blocks(pem)) {
            if (!b.label().equals("EC PARAMETERS")) { // `openssl ecparam -genkey` writes the curve first
                key = b;
                break;
            }
        }
        if (key == null) {
            throw new IllegalArgumentException("pem: found nothing (expected: PRIVATE KEY)");
        }
        try {
            return switch (key.label()) {
                case "PRIVATE KEY" -> pkcs8(key.der());
                case "EC PRIVATE KEY" -> pkcs8(ecToPkcs8(key.der()));
                case "RSA PRIVATE KEY" -> pkcs8(Der.sequence(Der.integer(0),
                        Der.sequence(RSA_ENCRYPTION, Der.nullValue()), Der.octetString(key.der())));
                case "ENCRYPTED PRIVATE KEY" -> throw new IllegalArgumentException(
                        "pem: found ENCRYPTED PRIVATE KEY (encrypted keys are not supported: expected an unencrypted "
                                + "PRIVATE KEY)");
                default -> throw new IllegalArgumentException("pem: found " + key.label()
                        + " (expected: PRIVATE KEY)");
            };
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("pem: not a valid private key: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("pem: ")) {
                throw e;
            }
            throw new IllegalArgumentException("pem: not a valid private key: " + e.getMessage(), e);
        }
    }

    /** A PKCS#8 PrivateKeyInfo, its algorithm read from its AlgorithmIdentifier. */
    private static PrivateKey pkcs8(byte[] der) throws GeneralSecurityException {
        Der.Element info = Der.read(der, 0).expect(Der.SEQUENCE, "PrivateKeyInfo");
        Der.Element algorithm = info.first().expect(Der.INTEGER, "version").next(info);
        if (algorithm == null) {
            throw new IllegalArgumentException("der: PrivateKeyInfo has no algorithm");
        }
        String oid = algorithm.expect(Der.SEQUENCE, "algorithm").first().oidString();
        String name = KEY_ALGORITHMS.get(oid);
        if (name == null) {
            throw new IllegalArgumentException("pem: private key of algorithm " + oid + " (expected: EC, RSA, "
                    + "RSASSA-PSS, Ed25519 or Ed448)");
        }
        return KeyFactory.getInstance(name).generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    /** SEC 1's ECPrivateKey wrapped as PKCS#8: the curve moves from its [0] parameters into the algorithm. */
    private static byte[] ecToPkcs8(byte[] sec1) {
        Der.Element key = Der.read(sec1, 0).expect(Der.SEQUENCE, "ECPrivateKey");
        byte[] curve = null;
        for (Der.Element e = key.first(); e != null; e = e.next(key)) {
            if (e.tag() == 0xa0) {
                curve = e.first().expect(Der.OID, "ECPrivateKey parameters (a named curve)").encoded();
            }
        }
        if (curve == null) {
            throw new IllegalArgumentException("pem: EC PRIVATE KEY without its curve (expected: parameters [0])");
        }
        return Der.sequence(Der.integer(0), Der.sequence(EC_PUBLIC_KEY, curve), Der.octetString(sec1));
    }

    /** Encodes certificates, CRLs, private keys (as PKCS#8) and {@link Block}s, in order. */
    public static String encode(Object... objects) {
        StringBuilder out = new StringBuilder();
        for (Object o : objects) {
            try {
                if (o instanceof X509Certificate cert) {
                    block(out, "CERTIFICATE", cert.getEncoded());
                } else if (o instanceof X509CRL crl) {
                    block(out, "X509 CRL", crl.getEncoded());
                } else if (o instanceof PrivateKey key) {
                    // always PKCS#8 (the JDK's own form of its keys), which Netty and Istio read
                    if (!"PKCS#8".equals(key.getFormat())) {
                        throw new IllegalArgumentException("pem: private key in " + key.getFormat()
                                + " form (expected: PKCS#8)");
                    }
                    block(out, "PRIVATE KEY", key.getEncoded());
                } else if (o instanceof Block b) {
                    block(out, b.label(), b.der());
                } else {
                    throw new IllegalArgumentException("pem: cannot encode "
                            + (o == null ? "null" : o.getClass().getName())
                            + " (expected: X509Certificate, X509CRL, PrivateKey or Pem.Block)");
                }
            } catch (GeneralSecurityException e) {
                throw new IllegalArgumentException("pem: cannot encode: " + e.getMessage(), e);
            }
        }
        return out.toString();
    }

    /** Encodes a private key as unencrypted PKCS#8 ({@code PRIVATE KEY}), the form Netty and Istio read. */
    public static String encodePrivateKey(PrivateKey key) {
        return encode(key);
    }

    public static String encode(List<X509Certificate> chain) {
        return encode(chain.toArray());
    }

    private static void block(StringBuilder out, String label, byte[] der) {
        out.append(BEGIN).append(label).append(DASHES).append('\n');
        String b64 = Base64.getEncoder().encodeToString(der);
        for (int i = 0; i < b64.length(); i += 64) {
            out.append(b64, i, Math.min(b64.length(), i + 64)).append('\n');
        }
        out.append(END).append(label).append(DASHES).append('\n');
    }
}
