package io.jmesh.ca.issuance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.ca.signing.Crypto;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.testing.fuzz.Fuzzer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.Attribute;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.asn1.pkcs.CertificationRequestInfo;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CSR path of {@code CreateCertificate}, in process ({@link CertificateIssuer#issue}, as the gRPC endpoint calls
 * it) against mutated certificate signing requests: the PEM text, the DER inside it, and the request info re-signed
 * with the requester's key (so mutations of names and extensions get past the signature check). Every input is
 * requested twice by node-a's ztunnel: for {@code sleep} by impersonation, and for its own identity.
 *
 * <p>Oracle: a certificate is issued only for a CSR that is still valid for the authorised identity (its key is
 * one the JDK reads, P-256, P-384 or RSA of 2048 to 8192 bits; its signature verifies with that key, checked by the
 * JCA rather than the CA's Bouncy Castle verifiers; its only SAN is that identity), and then the certificate's one
 * SAN is exactly that identity, its key the CSR's, its signature the CA's. Anything else is a {@link Refusal} with a reason the request can have (CSR problems, or the identity
 * checks of its mode) and a message: {@code csr: ...} for CSR problems, naming the identity otherwise. Never another
 * exception (the endpoint would answer INTERNAL), never {@link RefusalReason#INTERNAL}, never slower than
 * {@link #SLOW} per input.
 */
@Tag("fuzz")
class CsrFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final long VALIDITY_SECONDS = 3600;

    /** What a CSR can be refused for, whoever asks. */
    static final Set<RefusalReason> CSR_REASONS = EnumSet.of(RefusalReason.INVALID_CSR, RefusalReason.UNSUPPORTED_KEY,
            RefusalReason.INVALID_SAN, RefusalReason.REQUEST_TOO_LARGE);

    @TempDir
    static Path stateDir;
    static InProcessIssuer ca;
    /** The requester's key for the re-signed seeds. */
    static KeyPair requester;
    static List<PKCS10CertificationRequest> valid;
    static List<PKCS10CertificationRequest> resignable;

    final Map<String, Long> outcomes = new TreeMap<>();

    @BeforeAll
    static void start() throws Exception {
        ca = new InProcessIssuer(stateDir);
        String sleep = InProcessIssuer.SLEEP.uri();
        valid = List.of(csr(TestCsrs.forIdentity(sleep).pem()), csr(TestCsrs.forIdentity(
                InProcessIssuer.ZTUNNEL.uri()).pem()), csr(TestCsrs.csr(TestCsrs.ecP384(), List.of(uri(sleep)))),
                csr(TestCsrs.csr(TestCsrs.rsa(2048), List.of(uri(sleep)))));
        requester = TestCsrs.ecP256();
        resignable = List.of(csr(TestCsrs.csr(requester, List.of(uri(sleep)))),
                csr(TestCsrs.csr(requester, List.of(uri(InProcessIssuer.ZTUNNEL.uri())))), withSubjectAndExtensions());
    }

    @AfterAll
    static void stop() {
        ca.close();
    }

    @Test
    void pemTextIsIssuedForItsIdentityOrRefusedWithAReason() {
        byte[][] seeds = valid.stream().map(c -> pem(c).getBytes(StandardCharsets.US_ASCII)).toArray(byte[][]::new);
        fuzz("csr-pem", 4096, seeds, input -> request(new String(input, StandardCharsets.ISO_8859_1)));
    }

    @Test
    void derStructureIsIssuedForItsIdentityOrRefusedWithAReason() {
        byte[][] seeds = valid.stream().map(CsrFuzz::der).toArray(byte[][]::new);
        fuzz("csr-der", 2048, seeds, input -> request(Crypto.pem("CERTIFICATE REQUEST", input)));
    }

    @Test
    void resignedRequestInfoIsIssuedForItsIdentityOrRefusedWithAReason() {
        byte[][] seeds = resignable.stream().map(c -> encode(c.toASN1Structure().getCertificationRequestInfo()))
                .toArray(byte[][]::new);
        fuzz("csr-resigned-info", 2048, seeds, input -> {
            String pem = resign(input);
            if (pem == null) {
                outcomes.merge("not a request info (skipped)", 1L, Long::sum);
                return;
            }
            request(pem);
        });
    }

    /**
     * The re-signed request info under Jazzer, coverage-guided through the validator and Bouncy Castle's ASN.1
     * parsing (`make fuzz`), each input within {@link #SLOW} (once of two tries: instrumentation stretches runs).
     */
    @MethodSource("resignableSeeds")
    @FuzzTest(maxDuration = "60s")
    void resignedRequestInfoCoverageGuided(byte[] input) throws Exception {
        Fuzzer.withinTwice(SLOW, in -> {
            String pem = resign(in);
            if (pem != null) {
                request(pem);
            }
        }, input);
    }

    static Stream<Arguments> resignableSeeds() {
        return resignable.stream().map(c -> Arguments.of((Object) encode(c.toASN1Structure()
                .getCertificationRequestInfo())));
    }

    /** Runs one fuzzer, each input within {@link #SLOW}, the whole run within its bound plus a margin. */
    private void fuzz(String name, int maxLength, byte[][] seeds, Fuzzer.Target target) {
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named(name, maxLength).seeds(seeds).run(input -> {
                    long start = System.nanoTime();
                    target.accept(input);
                    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time for one input")
                            .isLessThan(SLOW);
                }), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        System.out.println("fuzz " + name + ": outcomes " + outcomes);
        assertThat(outcomes).as("the valid seeds were issued").containsKey("issued");
    }

    /** One CSR, requested by impersonation of sleep and as the node's own identity. */
    private void request(String pem) throws Exception {
        for (boolean impersonate : new boolean[] {true, false}) {
            String authorised = (impersonate ? InProcessIssuer.SLEEP : InProcessIssuer.ZTUNNEL).uri();
            IstioCertificateRequest.Builder r = IstioCertificateRequest.newBuilder().setCsr(pem)
                    .setValidityDuration(VALIDITY_SECONDS);
            if (impersonate) {
                r.setMetadata(Struct.newBuilder().putFields(CertificateIssuer.IMPERSONATED_IDENTITY,
                        Value.newBuilder().setStringValue(authorised).build()));
            }
            try {
                IstioCertificateResponse issued = ca.issuer.issue("token", r.build(), System.nanoTime());
                checkIssued(pem, authorised, issued);
                outcomes.merge("issued", 1L, Long::sum);
            } catch (Refusal refusal) {
                checkRefused(refusal, impersonate);
                outcomes.merge(refusal.reason().label(), 1L, Long::sum);
            }
        }
    }

    private static void checkRefused(Refusal r, boolean impersonate) {
        Set<RefusalReason> possible = EnumSet.copyOf(CSR_REASONS);
        possible.addAll(impersonate ? Set.of(RefusalReason.IDENTITY_MISMATCH)
                : Set.of(RefusalReason.IDENTITY_NOT_ALLOWED, RefusalReason.TRUST_DOMAIN_MISMATCH));
        assertThat(r.reason()).as("refusal reason (message: %s)", r.getMessage()).isIn(possible);
        assertThat(r.getMessage()).isNotBlank();
        if (CSR_REASONS.contains(r.reason())) {
            assertThat(r.getMessage()).startsWith("csr: ").hasSizeGreaterThan("csr: ".length() + 5);
        } else {
            assertThat(r.getMessage()).contains("spiffe://");
        }
    }

    /** The CSR was valid for {@code authorised}, and the certificate certifies exactly its key for that identity. */
    private static void checkIssued(String pem, String authorised, IstioCertificateResponse response)
            throws Exception {
        // the PEM text as the CA reads it, RFC 7468's lax form (mesh-core's PemAndCertificatesTest): Bouncy Castle's
        // reader wants line breaks around the base64 and skips no form feed, which fuzzing put in issued CSRs; the DER
        // is then Bouncy Castle's to read
        PKCS10CertificationRequest csr = new PKCS10CertificationRequest(
                Pem.single(pem, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"));
        assertThat(csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(jdkKey(csr))))
                .as("the CSR's signature verifies with its own key").isTrue();
        assertThat(requestedSans(csr)).as("the CSR's SANs").containsExactly(List.of(6, authorised));

        X509Certificate leaf = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(
                new ByteArrayInputStream(response.getCertChain(0).getBytes(StandardCharsets.US_ASCII)));
        leaf.verify(ca.authority.signingCert().getPublicKey());
        assertThat(leaf.getSubjectAlternativeNames()).as("the certificate's SANs")
                .containsExactly(List.of(6, authorised));
        assertThat(leaf.getPublicKey().getEncoded()).as("the certificate's key")
                .isEqualTo(csr.getSubjectPublicKeyInfo().getEncoded(ASN1Encoding.DER));
        assertThat(leaf.getBasicConstraints()).as("not a CA").isEqualTo(-1);
    }

    /** The CSR's key as the JDK reads it (an EC key on P-256 or P-384, or RSA of 2048 to 8192 bits). */
    private static PublicKey jdkKey(PKCS10CertificationRequest csr) throws Exception {
        String alg = csr.getSubjectPublicKeyInfo().getAlgorithm().getAlgorithm().equals(
                PKCSObjectIdentifiers.rsaEncryption) ? "RSA" : "EC";
        PublicKey key;
        try {
            key = KeyFactory.getInstance(alg).generatePublic(
                    new X509EncodedKeySpec(csr.getSubjectPublicKeyInfo().getEncoded(ASN1Encoding.DER)));
        } catch (GeneralSecurityException e) {
            throw new AssertionError("a key the JDK cannot read was certified: " + e, e);
        }
        if (key instanceof RSAPublicKey rsa) {
            assertThat(rsa.getModulus().bitLength()).as("RSA key size").isBetween(2048, 8192);
        } else {
            assertThat(((ECPublicKey) key).getParams().getCurve().getField().getFieldSize()).as("EC key size")
                    .isIn(256, 384);
        }
        return key;
    }

    /** Every SAN of every extension request, as the JDK lists them: [tag, name]. */
    private static List<List<Object>> requestedSans(PKCS10CertificationRequest csr) {
        List<List<Object>> out = new ArrayList<>();
        for (Attribute a : csr.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest)) {
            for (var value : a.getAttrValues()) {
                GeneralNames names = GeneralNames.fromExtensions(Extensions.getInstance(value),
                        Extension.subjectAlternativeName);
                for (GeneralName n : names == null ? new GeneralName[0] : names.getNames()) {
                    out.add(List.of(n.getTagNo(), n.getName().toString()));
                }
            }
        }
        return out;
    }

    /**
     * A CSR from mutated request info signed with the requester's key (ECDSA with SHA-256), or null when the
     * bytes are no request info at all (those are what the other two fuzzers are for).
     */
    static String resign(byte[] infoDer) throws GeneralSecurityException, IOException {
        byte[] tbs;
        CertificationRequestInfo info;
        try {
            info = CertificationRequestInfo.getInstance(ASN1Primitive.fromByteArray(infoDer));
            tbs = info.getEncoded(ASN1Encoding.DER);
        } catch (IOException | RuntimeException e) {
            return null;
        }
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(requester.getPrivate());
        s.update(tbs);
        CertificationRequest signed = new CertificationRequest(info,
                new AlgorithmIdentifier(X9ObjectIdentifiers.ecdsa_with_SHA256), new DERBitString(s.sign()));
        return Crypto.pem("CERTIFICATE REQUEST", signed.getEncoded(ASN1Encoding.DER));
    }

    /** A valid request with a subject, key usage and basic constraints next to the SAN, and a second attribute. */
    private static PKCS10CertificationRequest withSubjectAndExtensions() throws Exception {
        ExtensionsGenerator ext = new ExtensionsGenerator();
        ext.addExtension(Extension.subjectAlternativeName, true, new GeneralNames(uri(InProcessIssuer.SLEEP.uri())));
        ext.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        ext.addExtension(Extension.basicConstraints, false, new BasicConstraints(false));
        return new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=sleep,O=cluster.local"),
                requester.getPublic())
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate())
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_challengePassword,
                        new org.bouncycastle.asn1.DERPrintableString("secret"))
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(requester.getPrivate()));
    }

    private static GeneralName uri(String uri) {
        return new GeneralName(GeneralName.uniformResourceIdentifier, uri);
    }

    private static PKCS10CertificationRequest csr(String pem) throws IOException {
        try (PEMParser p = new PEMParser(new StringReader(pem))) {
            return (PKCS10CertificationRequest) p.readObject();
        }
    }

    private static String pem(PKCS10CertificationRequest csr) {
        return Crypto.pem("CERTIFICATE REQUEST", der(csr));
    }

    private static byte[] der(PKCS10CertificationRequest csr) {
        try {
            return csr.getEncoded();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] encode(CertificationRequestInfo info) {
        try {
            return info.getEncoded(ASN1Encoding.DER);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
