package io.jmesh.ca.issuance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.ca.signing.CsrException;
import io.jmesh.ca.signing.CsrPem;
import io.jmesh.ca.signing.CsrValidator;
import io.jmesh.ca.signing.ValidatedCsr;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.RSAPrivateKeySpec;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.DERNull;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.pkcs.Attribute;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.asn1.pkcs.CertificationRequestInfo;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCS10CertificationRequestBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.bouncycastle.util.BigIntegers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CSRs that {@link CsrFuzz} found mishandled, minimized; each is refused as the CSR problem it is. */
class CsrRegressionTest {

    @TempDir
    Path stateDir;

    /**
     * A correctly signed request whose subjectAltName extension holds a corrupted encoding (a SEQUENCE claiming 112
     * bytes and holding 3): Bouncy Castle's IllegalArgumentException escaped the validator, and the endpoint
     * answered INTERNAL ("internal error: ...") instead of INVALID_ARGUMENT.
     */
    static String corruptSanExtension() throws Exception {
        KeyPair kp = TestCsrs.ecP256();
        Extensions exts = new Extensions(new Extension(Extension.subjectAlternativeName, true,
                new DEROctetString(new byte[] {0x30, 0x70, (byte) 0x86, 0x01, 'x'})));
        return CsrPem.encode(new JcaPKCS10CertificationRequestBuilder(new X500Name(new RDN[0]), kp.getPublic())
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, exts)
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())));
    }

    /**
     * A correctly signed ztunnel-style request whose P-256 key is encoded as a compressed ({@code 02}/{@code 03})
     * or hybrid ({@code 06}/{@code 07}, which RFC 5480 forbids) point: Bouncy Castle verified it and the CA issued
     * a certificate carrying the key in that form, which the JDK cannot read ("Only uncompressed point format
     * supported").
     */
    static String pointForm(boolean hybrid) throws Exception {
        KeyPair kp = TestCsrs.ecP256();
        ECPublicKey pub = (ECPublicKey) kp.getPublic();
        boolean oddY = pub.getW().getAffineY().testBit(0);
        byte[] point = new byte[hybrid ? 65 : 33];
        point[0] = (byte) (hybrid ? (oddY ? 0x07 : 0x06) : (oddY ? 0x03 : 0x02));
        System.arraycopy(BigIntegers.asUnsignedByteArray(32, pub.getW().getAffineX()), 0, point, 1, 32);
        if (hybrid) {
            System.arraycopy(BigIntegers.asUnsignedByteArray(32, pub.getW().getAffineY()), 0, point, 33, 32);
        }
        SubjectPublicKeyInfo spki = new SubjectPublicKeyInfo(
                SubjectPublicKeyInfo.getInstance(pub.getEncoded()).getAlgorithm(), point);
        ExtensionsGenerator ext = new ExtensionsGenerator();
        ext.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(
                new GeneralName(GeneralName.uniformResourceIdentifier, InProcessIssuer.SLEEP.uri())));
        return CsrPem.encode(new PKCS10CertificationRequestBuilder(new X500Name(new RDN[0]), spki)
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())));
    }

    @Test
    void anEcKeyThatIsNotAnUncompressedPointIsRefusedNotCertified() throws Exception {
        try (InProcessIssuer ca = new InProcessIssuer(stateDir)) {
            for (boolean hybrid : new boolean[] {true, false}) {
                String pem = pointForm(hybrid);
                assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(pem), System.nanoTime()))
                        .as(hybrid ? "hybrid" : "compressed")
                        .isInstanceOfSatisfying(Refusal.class,
                                r -> assertThat(r.reason()).isEqualTo(RefusalReason.UNSUPPORTED_KEY))
                        .hasMessageStartingWith("csr: ECDSA public key of " + (hybrid ? 65 : 33) + " bytes starting")
                        .hasMessageEndingWith("(expected: the uncompressed point, 0x04 and 64 bytes)");
            }
        }
    }

    private static IstioCertificateRequest impersonatingSleep(String pem) {
        return IstioCertificateRequest.newBuilder().setCsr(pem).setValidityDuration(3600)
                .setMetadata(Struct.newBuilder().putFields(CertificateIssuer.IMPERSONATED_IDENTITY,
                        Value.newBuilder().setStringValue(InProcessIssuer.SLEEP.uri()).build()))
                .build();
    }

    /**
     * A CSR for {@link InProcessIssuer#SLEEP} carrying the RSA public key {@code (modulus, exponent)} and a signature
     * made with {@code privateExponent}.
     */
    static String rsaCsr(BigInteger modulus, BigInteger exponent, BigInteger privateExponent) throws Exception {
        SubjectPublicKeyInfo spki = new SubjectPublicKeyInfo(
                new AlgorithmIdentifier(PKCSObjectIdentifiers.rsaEncryption, DERNull.INSTANCE),
                new org.bouncycastle.asn1.pkcs.RSAPublicKey(modulus, exponent));
        ExtensionsGenerator ext = new ExtensionsGenerator();
        ext.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(
                new GeneralName(GeneralName.uniformResourceIdentifier, InProcessIssuer.SLEEP.uri())));
        CertificationRequestInfo info = new CertificationRequestInfo(new X500Name(new RDN[0]), spki,
                new DERSet(new Attribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest,
                        new DERSet(ext.generate()))));
        AlgorithmIdentifier sha256WithRsa = new AlgorithmIdentifier(PKCSObjectIdentifiers.sha256WithRSAEncryption,
                DERNull.INSTANCE);
        // the JDK's provider signs with any modulus; Bouncy Castle's would refuse a weak one before signing
        var key = KeyFactory.getInstance("RSA", "SunRsaSign")
                .generatePrivate(new RSAPrivateKeySpec(modulus, privateExponent));
        Signature s = Signature.getInstance("SHA256withRSA", "SunRsaSign");
        s.initSign(key);
        s.update(info.getEncoded(ASN1Encoding.DER));
        byte[] signature = s.sign();
        return CsrPem.encode(new PKCS10CertificationRequest(
                new CertificationRequest(info, sha256WithRsa, new DERBitString(signature))));
    }

    /**
     * A correctly signed request whose 2048-bit RSA key has a public exponent of 2047 bits: Bouncy Castle verified it
     * (one full-size modular exponentiation per request) and the CA certified a key that Istio's ztunnel (ring:
     * 3..2^33-1) and Go (up to 2^31-1) cannot use.
     */
    @Test
    void anRsaKeyWithAnExponentOutsideWhatPeersAcceptIsRefused() throws Exception {
        SecureRandom random = new SecureRandom();
        BigInteger p;
        BigInteger q;
        do {
            p = BigInteger.probablePrime(1024, random);
            q = BigInteger.probablePrime(1024, random);
        } while (p.multiply(q).bitLength() != 2048);
        BigInteger modulus = p.multiply(q);
        BigInteger phi = p.subtract(BigInteger.ONE).multiply(q.subtract(BigInteger.ONE));
        BigInteger e;
        do {
            e = new BigInteger(2047, random).setBit(2046).setBit(0);
        } while (!e.gcd(phi).equals(BigInteger.ONE));
        String huge = rsaCsr(modulus, e, e.modInverse(phi));
        try (InProcessIssuer ca = new InProcessIssuer(stateDir)) {
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(huge), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.UNSUPPORTED_KEY))
                    .hasMessageStartingWith("csr: RSA public exponent of 2047 bits")
                    .hasMessageEndingWith("(expected: an odd number from 3 to 2^31-1, e.g. 65537)");
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(rsaCsr(modulus,
                    BigInteger.ONE, BigInteger.ONE)), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.UNSUPPORTED_KEY))
                    .hasMessage("csr: RSA public exponent 1 (expected: an odd number from 3 to 2^31-1, e.g. 65537)");
        }
    }

    /**
     * Bouncy Castle's RSA key check runs a Miller-Rabin round (a full-size modular exponentiation, ~150 ms at 8192
     * bits) on every modulus it has not seen: an authenticated caller sending cheap requests with random moduli kept
     * the signing threads busy for every other node. The CA therefore does not test the modulus at all, as Go's and
     * istiod's CSR checks do not: the key's quality is its requester's concern. Shown without a clock: a correctly
     * signed request whose modulus has a small prime factor, which that check refuses at once, verifies.
     */
    @Test
    void theCsrKeysModulusIsNotPrimalityTestedPerRequest() throws Exception {
        SecureRandom random = new SecureRandom();
        BigInteger small = BigInteger.valueOf(5);
        BigInteger e = BigInteger.valueOf(65_537);
        BigInteger q;
        BigInteger modulus;
        do {
            q = BigInteger.probablePrime(2046, random);
            modulus = small.multiply(q);
        } while (modulus.bitLength() != 2048 || !e.gcd(q.subtract(BigInteger.ONE)).equals(BigInteger.ONE));
        BigInteger phi = small.subtract(BigInteger.ONE).multiply(q.subtract(BigInteger.ONE));
        String pem = rsaCsr(modulus, e, e.modInverse(phi));

        ValidatedCsr csr = new CsrValidator(16_384).validate(pem);

        assertThat(csr.keyType()).isEqualTo(ValidatedCsr.KeyType.RSA);
    }

    @Test
    void aCorruptSubjectAltNameEncodingIsAMalformedCsrNotAnInternalError() throws Exception {
        String pem = corruptSanExtension();
        assertThatThrownBy(() -> new CsrValidator(16_384).validate(pem))
                .isInstanceOfSatisfying(CsrException.class,
                        e -> assertThat(e.problem()).isEqualTo(CsrException.Problem.MALFORMED))
                .hasMessageStartingWith("csr: extension request undecodable: can't convert extension");

        try (InProcessIssuer ca = new InProcessIssuer(stateDir)) {
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(pem), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.INVALID_CSR))
                    .hasMessageStartingWith("csr: extension request undecodable");
        }
    }

    /** A signed request whose key's curve parameter is {@code curve}, and whose SAN is {@code san}. */
    static String withCurveAndSan(org.bouncycastle.asn1.ASN1Encodable curve, GeneralName san) throws Exception {
        KeyPair kp = TestCsrs.ecP256();
        SubjectPublicKeyInfo real = SubjectPublicKeyInfo.getInstance(kp.getPublic().getEncoded());
        SubjectPublicKeyInfo spki = curve == null ? real : new SubjectPublicKeyInfo(
                new org.bouncycastle.asn1.x509.AlgorithmIdentifier(real.getAlgorithm().getAlgorithm(), curve),
                real.getPublicKeyData().getBytes());
        ExtensionsGenerator ext = new ExtensionsGenerator();
        ext.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(san));
        return CsrPem.encode(new PKCS10CertificationRequestBuilder(new X500Name(new RDN[0]), spki)
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())));
    }

    /**
     * A UTF8String that is not UTF-8 as the curve of an EC key, or in a directory name SAN: Bouncy Castle throws
     * IllegalArgumentException when printing it, which escaped the validator's message and was answered INTERNAL
     * (found by CsrFuzz, seed 56842784616732). Now the value is shown as its DER.
     */
    @Test
    void aValueThatCannotBePrintedIsShownAsItsDerNotAnInternalError() throws Exception {
        org.bouncycastle.asn1.ASN1Primitive notUtf8 = org.bouncycastle.asn1.ASN1Primitive.fromByteArray(
                new byte[] {0x0c, 0x02, (byte) 0xc3, 0x28});
        GeneralName sleep = new GeneralName(GeneralName.uniformResourceIdentifier, InProcessIssuer.SLEEP.uri());
        String badCurve = withCurveAndSan(notUtf8, sleep);
        String badName = withCurveAndSan(null, new GeneralName(new X500Name(new RDN[] {
            new RDN(org.bouncycastle.asn1.x500.style.BCStyle.CN, notUtf8)})));
        try (InProcessIssuer ca = new InProcessIssuer(stateDir)) {
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(badCurve), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.UNSUPPORTED_KEY))
                    .hasMessage("csr: ECDSA key on curve DER 0x0c02c328 (expected: P-256 or P-384 as a named curve)");
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(badName), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.INVALID_SAN))
                    .hasMessageStartingWith("csr: subjectAltName has a directory name 'DER 0x30")
                    .hasMessageEndingWith("' (expected: exactly one URI SAN, no others)");
        }
    }

    /**
     * A PEM whose END line shares the BEGIN line's closing dashes: mesh-core's reader took the END line to end before
     * the block began and threw StringIndexOutOfBoundsException, answered INTERNAL. And one whose BEGIN follows other
     * text on its line, which the CA read as a request where Go's and OpenSSL's readers (istiod's) see none.
     */
    @Test
    void brokenPemBoundariesAreAMalformedCsrNotAnInternalError() throws Exception {
        String overlapping = "-----BEGIN CERTIFICATE REQUEST-----END CERTIFICATE REQUEST-----\n";
        String afterText = "\u0090\u00016" + TestCsrs.forIdentity(InProcessIssuer.SLEEP.uri()).pem();
        try (InProcessIssuer ca = new InProcessIssuer(stateDir)) {
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(overlapping), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.INVALID_CSR))
                    .hasMessage("csr: pem: CERTIFICATE REQUEST block without its END line");
            assertThatThrownBy(() -> ca.issuer.issue("token", impersonatingSleep(afterText), System.nanoTime()))
                    .isInstanceOfSatisfying(Refusal.class,
                            r -> assertThat(r.reason()).isEqualTo(RefusalReason.INVALID_CSR))
                    .hasMessage("csr: pem: found nothing (expected: CERTIFICATE REQUEST)");
        }
    }
}
