package io.jmesh.ca.issuance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.math.BigInteger;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bouncycastle.asn1.x509.GeneralName;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** CreateCertificate over real gRPC and TLS 1.3 against a real in-process CA. */
@Timeout(60)
class CreateCertificateTest {

    static final String TD = "cluster.local";
    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";
    static final long DAY = 86_400;

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder()
            .place("node-a", SpiffeId.parse(SLEEP))
            .build();

    static Vertx vertx;
    static CaClient client;

    @BeforeAll
    static void client() {
        vertx = Vertx.vertx();
        client = ca.client(vertx);
    }

    @AfterAll
    static void close() throws Exception {
        client.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static <T> T await(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    @Test
    void nodeObtainsAWorkloadCertificateByImpersonation() throws Exception {
        TestCsrs.Csr csr = TestCsrs.forIdentity(SLEEP);
        Instant before = Instant.now();
        IstioCertificateResponse resp = await(client.createCertificate(ca.nodeToken("node-a"), csr.pem(), DAY, SLEEP));

        assertThat(resp.getCertChainCount()).isEqualTo(2);
        X509Certificate leaf = Pem.certificate(resp.getCertChain(0));
        List<X509Certificate> roots = Pem.certificates(resp.getCertChain(resp.getCertChainCount() - 1));
        assertThat(roots).containsExactlyElementsOf(Pem.certificates(ca.rootsPem()));
        Certificates.verifyChain(List.of(leaf), roots, new Date());

        assertThat(Certificates.uriSans(leaf)).containsExactly(SLEEP);
        assertThat(leaf.getSubjectAlternativeNames()).hasSize(1);
        assertThat(leaf.getPublicKey()).isEqualTo(csr.keyPair().getPublic());
        assertThat(leaf.getExtendedKeyUsage()).containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        assertThat(leaf.getKeyUsage()[0]).as("digitalSignature").isTrue();
        assertThat(leaf.getKeyUsage()[2]).as("keyEncipherment, not for EC keys").isFalse();
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        assertThat(leaf.getExtensionValue("2.5.29.14")).as("subject key identifier").isNotNull();
        assertThat(leaf.getExtensionValue("2.5.29.35")).as("authority key identifier").isNotNull();
        assertThat(leaf.getSerialNumber().bitLength()).isBetween(100, 128);
        assertThat(leaf.getNotBefore().toInstant()).isBefore(before.minusSeconds(60));
        Duration lifetime = Duration.between(before, leaf.getNotAfter().toInstant());
        assertThat(lifetime.toSeconds()).isBetween(DAY - 60, DAY + 60);
        assertThat(ca.metric("ca_certificates_issued_total", "trust_domain", TD)).isGreaterThanOrEqualTo(1);
        assertThat(ca.metricsText()).contains("ca_signing_duration_seconds_count").contains("ca_root_expiry_seconds");
    }

    @Test
    void nodeObtainsItsOwnIdentityWithoutImpersonation() throws Exception {
        IstioCertificateResponse resp = await(client.createCertificate(ca.nodeToken("node-a"),
                TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null));
        assertThat(Certificates.uriSans(Pem.certificate(resp.getCertChain(0)))).containsExactly(ZTUNNEL);
    }

    @Test
    void rsaAndP384KeysAreAccepted() throws Exception {
        for (var kp : List.of(TestCsrs.rsa(2048), TestCsrs.ecP384())) {
            String csr = TestCsrs.csr(kp, List.of(new GeneralName(GeneralName.uniformResourceIdentifier, SLEEP)));
            X509Certificate leaf = Pem.certificate(await(client.createCertificate(ca.nodeToken("node-a"), csr, 3600,
                    SLEEP)).getCertChain(0));
            assertThat(leaf.getPublicKey()).isEqualTo(kp.getPublic());
            assertThat(leaf.getKeyUsage()[2]).as("keyEncipherment").isEqualTo("RSA".equals(kp.getPublic().getAlgorithm()));
        }
    }

    static Stream<Arguments> badRequests() {
        String good = TestCsrs.forIdentity(SLEEP).pem();
        String keyPem = Pem.encodePrivateKey(TestCsrs.ecP256().getPrivate());
        String tampered = tamper(good);
        return Stream.of(
                Arguments.of("garbage bytes", "\u0000\u00ff garbage \u0001", DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_csr", "csr:"),
                Arguments.of("PEM of the wrong type", keyPem, DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_csr", "expected: CERTIFICATE REQUEST"),
                Arguments.of("bad signature", tampered, DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_csr", "csr:"),
                Arguments.of("a DNS SAN", TestCsrs.csr(List.of(SLEEP), List.of("sleep.default.svc")), DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_san", "DNS name 'sleep.default.svc'"),
                Arguments.of("two URI SANs", TestCsrs.csr(List.of(SLEEP, "spiffe://cluster.local/ns/default/sa/other"),
                        List.of()), DAY, SLEEP, GrpcStatus.INVALID_ARGUMENT, "invalid_san", "2 URI SANs"),
                Arguments.of("no SAN", TestCsrs.csr(TestCsrs.ecP256(), List.of()), DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_san", "no subjectAltName"),
                Arguments.of("identity other than the impersonated one",
                        TestCsrs.forIdentity("spiffe://cluster.local/ns/default/sa/other").pem(), DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "identity_mismatch", "differs from metadata.ImpersonatedIdentity"),
                Arguments.of("RSA 1024", TestCsrs.csr(TestCsrs.rsa(1024),
                        List.of(new GeneralName(GeneralName.uniformResourceIdentifier, SLEEP))), DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "unsupported_key", "RSA key of 1024 bits"),
                Arguments.of("validity 0", good, 0, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_validity", "validity_duration: 0"),
                Arguments.of("validity negative", good, -5, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "invalid_validity", "validity_duration: -5"),
                Arguments.of("validity above the maximum", good, 91 * DAY, SLEEP,
                        GrpcStatus.INVALID_ARGUMENT, "validity_too_long", "validity_duration: 7862400"),
                Arguments.of("oversize CSR", good + "x".repeat(20_000), DAY, SLEEP,
                        GrpcStatus.RESOURCE_EXHAUSTED, "request_too_large", "expected: <= 16384"),
                Arguments.of("impersonated identity not a SPIFFE id", good, DAY, "sleep",
                        GrpcStatus.INVALID_ARGUMENT, "invalid_metadata", "ImpersonatedIdentity: 'sleep'"),
                Arguments.of("another trust domain", TestCsrs.forIdentity("spiffe://other.td/ns/default/sa/sleep").pem(),
                        DAY, "spiffe://other.td/ns/default/sa/sleep",
                        GrpcStatus.PERMISSION_DENIED, "trust_domain_mismatch", "expected: cluster.local"),
                Arguments.of("a workload not on the node",
                        TestCsrs.forIdentity("spiffe://cluster.local/ns/default/sa/reviews").pem(), DAY,
                        "spiffe://cluster.local/ns/default/sa/reviews", GrpcStatus.PERMISSION_DENIED,
                        "workload_not_on_node", "node node-a runs no workload with identity"),
                Arguments.of("a workload identity without impersonation", good, DAY, null,
                        GrpcStatus.PERMISSION_DENIED, "identity_not_allowed", "may obtain only its own identity"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badRequests")
    void badRequestsAreRefusedPreciselyAndCounted(String name, String csr, long validity, String impersonated,
            GrpcStatus status, String reason, String message) throws Exception {
        double before = ca.metric("ca_certificates_refused_total", "reason", reason);
        assertThatThrownBy(() -> await(client.createCertificate(ca.nodeToken("node-a"), csr, validity, impersonated)))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(status);
                    assertThat(e.statusMessage()).contains(message);
                });
        assertThat(ca.metric("ca_certificates_refused_total", "reason", reason)).isEqualTo(before + 1);
    }

    @Test
    void oversizeMessageIsRefusedByTheTransportLimit() throws Exception {
        double before = ca.metric("ca_certificates_refused_total", "reason", "request_too_large");
        String huge = "x".repeat(70_000);
        assertThatThrownBy(() -> await(client.createCertificate(ca.nodeToken("node-a"), huge, DAY, SLEEP)))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.RESOURCE_EXHAUSTED));
        assertThat(ca.metric("ca_certificates_refused_total", "reason", "request_too_large")).isEqualTo(before + 1);
    }

    @Test
    void missingUnknownAndExpiredTokensAreUnauthenticated() throws Exception {
        String csr = TestCsrs.forIdentity(SLEEP).pem();
        var expired = new io.jmesh.ca.auth.BootstrapTokens(ca.bootstrap().stateDirectory(), TD,
                java.time.Clock.fixed(Instant.now().minus(Duration.ofHours(2)), java.time.ZoneOffset.UTC))
                .createForNode("node-a", Duration.ofHours(1), "test", "expired");
        ca.bootstrap().tokens().reloadIfChanged();
        for (String token : new String[] {null, "jmesh.0000000000000000.nope", "not-a-token", expired.token()}) {
            double before = ca.metric("ca_certificates_refused_total", "reason", "unauthenticated");
            assertThatThrownBy(() -> await(client.createCertificate(token, csr, DAY, SLEEP)))
                    .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                        assertThat(e.status()).isEqualTo(GrpcStatus.UNAUTHENTICATED);
                        assertThat(e.statusMessage()).startsWith("authentication failed");
                    });
            assertThat(ca.metric("ca_certificates_refused_total", "reason", "unauthenticated")).isEqualTo(before + 1);
        }
    }

    @Test
    void concurrentCallersEachGetTheirOwnCertificate() throws Exception {
        int callers = 64;
        List<TestCsrs.Csr> csrs = new ArrayList<>();
        List<Future<IstioCertificateResponse>> calls = new ArrayList<>();
        for (int i = 0; i < callers; i++) {
            csrs.add(TestCsrs.forIdentity(SLEEP));
        }
        for (TestCsrs.Csr csr : csrs) {
            calls.add(client.createCertificate(ca.nodeToken("node-a"), csr.pem(), 3600, SLEEP));
        }
        await(Future.all(calls));
        Set<BigInteger> serials = new HashSet<>();
        for (int i = 0; i < callers; i++) {
            X509Certificate leaf = Pem.certificate(calls.get(i).result().getCertChain(0));
            assertThat(leaf.getPublicKey()).isEqualTo(csrs.get(i).keyPair().getPublic());
            serials.add(leaf.getSerialNumber());
        }
        assertThat(serials).hasSize(callers);
    }

    private static final String CREATE = "/istio.v1.auth.IstioCertificateService/CreateCertificate";

    @Test
    void aCompressedRequestIsRefusedBeforeItIsInflated() throws Exception {
        // Vert.x would inflate it without a bound before the 64 KiB limit applies: 64 KiB of gzip is ~64 MiB
        IstioCertificateRequest request = IstioCertificateRequest.newBuilder()
                .setCsr(TestCsrs.forIdentity(ZTUNNEL).pem()).setValidityDuration(3600).build();
        double issuedBefore = ca.metric("ca_certificates_issued_total", "trust_domain", TD);
        double refusedBefore = ca.metric("ca_grpc_calls_refused_total", "method", CREATE, "reason", "compressed");
        assertThatThrownBy(() -> await(client.createCertificateCompressed(ca.nodeToken("node-a"), request)))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.UNIMPLEMENTED);
                    assertThat(e.statusMessage()).contains("grpc-encoding: gzip (expected: identity");
                });
        assertThat(ca.metric("ca_grpc_calls_refused_total", "method", CREATE, "reason", "compressed")).isEqualTo(refusedBefore + 1);
        assertThat(ca.metric("ca_certificates_issued_total", "trust_domain", TD)).isEqualTo(issuedBefore);
    }

    @Test
    void aMessageThatIsNoRequestIsRefusedWithWhyAndCounted() throws Exception {
        // Vert.x's own decoder cancelled such a call (CANCELLED, no reason, nothing counted)
        double before = ca.metric("ca_certificates_refused_total", "reason", "invalid_csr");
        assertThatThrownBy(() -> await(client.createCertificateRaw(ca.nodeToken("node-a"),
                io.vertx.core.buffer.Buffer.buffer(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}))))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
                    assertThat(e.statusMessage())
                            .startsWith("request: the message does not decode as IstioCertificateRequest: ");
                });
        assertThat(ca.metric("ca_certificates_refused_total", "reason", "invalid_csr")).isEqualTo(before + 1);
    }

    @Test
    void rawRequestWithoutMetadataFieldsIsHandled() throws Exception {
        assertThatThrownBy(() -> await(client.createCertificate(ca.nodeToken("node-a"),
                IstioCertificateRequest.getDefaultInstance())))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT));
    }

    @Test
    void aCallThatEndsWithoutARequestMessageIsRefusedNotLeftOpen() throws Exception {
        double before = ca.metric("ca_certificates_refused_total", "reason", "invalid_csr");
        assertThatThrownBy(() -> await(client.createCertificateMessages(ca.nodeToken("node-a"), List.of())))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
                    assertThat(e.statusMessage()).contains("no IstioCertificateRequest message");
                });
        assertThat(ca.metric("ca_certificates_refused_total", "reason", "invalid_csr")).isEqualTo(before + 1);
    }

    @Test
    void aUnaryCallWithSeveralRequestMessagesIsRefusedAndSignsNothing() throws Exception {
        IstioCertificateRequest request = IstioCertificateRequest.newBuilder()
                .setCsr(TestCsrs.forIdentity(ZTUNNEL).pem()).setValidityDuration(3600).build();
        double issuedBefore = ca.metric("ca_certificates_issued_total", "trust_domain", TD);
        double refusedBefore = ca.metric("ca_certificates_refused_total", "reason", "invalid_csr");
        assertThatThrownBy(() -> await(client.createCertificateMessages(ca.nodeToken("node-a"),
                List.of(request, request, request))))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
                    assertThat(e.statusMessage()).contains("more than one IstioCertificateRequest message");
                });
        // a certificate signed for a call that cannot return it would be journaled and audited as issued
        Thread.sleep(300);
        assertThat(ca.metric("ca_certificates_issued_total", "trust_domain", TD)).isEqualTo(issuedBefore);
        assertThat(ca.metric("ca_certificates_refused_total", "reason", "invalid_csr")).isEqualTo(refusedBefore + 1);
    }

    private static String tamper(String pem) {
        var csr = io.jmesh.ca.signing.CsrPem.parse(pem);
        byte[] der;
        try {
            der = csr.getEncoded();
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        // flip a bit in the last byte: the signature
        der[der.length - 1] ^= 0x01;
        return io.jmesh.ca.signing.Crypto.pem("CERTIFICATE REQUEST", der);
    }
}
