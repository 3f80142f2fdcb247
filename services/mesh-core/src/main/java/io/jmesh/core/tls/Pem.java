package io.jmesh.core.tls;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMException;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/**
 * PEM encoding and decoding of certificates, private keys and CSRs (Bouncy Castle).
 *
 * <p>Decoding is strict about the object type: a key where a certificate is expected is an error that
 * says what was found, so a misconfigured file or a wrong CA request is reported precisely.
 */
public final class Pem {

    private static final JcaX509CertificateConverter CERTS = new JcaX509CertificateConverter();
    private static final JcaPEMKeyConverter KEYS = new JcaPEMKeyConverter();

    private Pem() {}

    /** Reads every certificate in {@code pem}, in order. At least one is required. */
    public static List<X509Certificate> certificates(String pem) {
        List<X509Certificate> out = new ArrayList<>();
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o;
            while ((o = parser.readObject()) != null) {
                if (!(o instanceof X509CertificateHolder holder)) {
                    throw new IllegalArgumentException("pem: found " + describe(o) + " (expected: CERTIFICATE)");
                }
                out.add(CERTS.getCertificate(holder));
            }
        } catch (IOException | CertificateException e) {
            throw new IllegalArgumentException("pem: not a valid certificate: " + e.getMessage(), e);
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

    /** Reads one private key in PKCS#8 ({@code PRIVATE KEY}) or traditional ({@code EC/RSA PRIVATE KEY}) form. */
    public static PrivateKey privateKey(String pem) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o = parser.readObject();
            if (o instanceof PrivateKeyInfo info) {
                return KEYS.getPrivateKey(info);
            }
            if (o instanceof PEMKeyPair pair) {
                return pair.getPublicKeyInfo() != null ? KEYS.getKeyPair(pair).getPrivate()
                        : KEYS.getPrivateKey(pair.getPrivateKeyInfo());
            }
            throw new IllegalArgumentException("pem: found " + describe(o) + " (expected: PRIVATE KEY)");
        } catch (PEMException e) {
            throw new IllegalArgumentException("pem: not a valid private key: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("pem: unreadable: " + e.getMessage(), e);
        }
    }

    /** Reads one PKCS#10 certificate signing request. */
    public static PKCS10CertificationRequest csr(String pem) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o = parser.readObject();
            if (o instanceof PKCS10CertificationRequest csr) {
                if (parser.readObject() != null) {
                    throw new IllegalArgumentException("pem: more than one object (expected: one CERTIFICATE REQUEST)");
                }
                return csr;
            }
            throw new IllegalArgumentException("pem: found " + describe(o) + " (expected: CERTIFICATE REQUEST)");
        } catch (IOException e) {
            throw new IllegalArgumentException("pem: not a valid certificate request: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            if (e instanceof IllegalArgumentException) {
                throw e;
            }
            // PEMParser throws assorted runtime exceptions on garbage inside a well-formed PEM block
            throw new IllegalArgumentException("pem: not a valid certificate request: " + e.getMessage(), e);
        }
    }

    /** Encodes certificates, private keys (as PKCS#8), CSRs and CRLs. */
    public static String encode(Object... objects) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            for (Object o : objects) {
                // keys always as PKCS#8: the traditional EC form loses the curve for JDK-generated keys
                writer.writeObject(o instanceof PrivateKey key ? new JcaPKCS8Generator(key, null) : o);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
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

    private static String describe(Object o) {
        if (o == null) {
            return "nothing";
        }
        if (o instanceof PKCS10CertificationRequest) {
            return "CERTIFICATE REQUEST";
        }
        if (o instanceof X509CertificateHolder) {
            return "CERTIFICATE";
        }
        if (o instanceof PrivateKeyInfo || o instanceof PEMKeyPair) {
            return "PRIVATE KEY";
        }
        return o.getClass().getSimpleName();
    }
}
