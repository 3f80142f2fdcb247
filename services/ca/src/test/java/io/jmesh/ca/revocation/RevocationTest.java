package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.cli.CaCli;
import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.CaAdminGrpcClient;
import io.jmesh.proto.ca.v1.GetCrlRequest;
import io.jmesh.proto.ca.v1.ListRevocationsRequest;
import io.jmesh.proto.ca.v1.RevocationReason;
import io.jmesh.proto.ca.v1.RevokeRequest;
import io.jmesh.proto.ca.v1.RevokeResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.security.cert.CRLReason;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Revocation by serial (CaAdmin) and by identity (CLI); the signed CRL served on /crl and in the trust bundle. */
@Timeout(60)
class RevocationTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().place("node-a", SpiffeId.parse(SLEEP)).build();

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

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private X509Certificate issue(String identity, String impersonated) throws Exception {
        return Pem.certificate(get(client.createCertificate(ca.nodeToken("node-a"),
                TestCsrs.forIdentity(identity).pem(), 3600, impersonated)).getCertChain(0));
    }

    private static X509CRL crl() throws Exception {
        HttpResponse<byte[]> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + ca.adminPort() + "/crl")).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/pkix-crl");
        return (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(new ByteArrayInputStream(r.body()));
    }

    @Test
    void revokedSerialsAppearInTheSignedCrl() throws Exception {
        X509Certificate first = issue(SLEEP, SLEEP);
        X509Certificate second = issue(SLEEP, SLEEP);
        X509Certificate own = issue(ZTUNNEL, null);
        X509Certificate root = Pem.certificate(ca.rootsPem());
        BigInteger numberBefore = crlNumber(crl());

        // by serial, over CaAdmin with the admin service's token
        RevokeResponse bySerial = get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                RevokeRequest.newBuilder().setSerialHex(Certificates.serialHex(first).toUpperCase())
                        .setReason(RevocationReason.KEY_COMPROMISE).setComment("laptop stolen").build()));
        assertThat(bySerial.getRevokedSerialsHexList()).containsExactly(Certificates.serialHex(first));
        // the answering replica has re-signed its CRL before it answers
        assertThat(crl().getRevokedCertificate(first.getSerialNumber())).isNotNull();

        // by identity, with the CLI on the state directory: only the certificate not revoked yet is new
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = new CaCli(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(
                new ByteArrayOutputStream()), Clock.systemUTC()).run("revoke", "--identity", SLEEP, "--reason",
                "superseded", "--state-dir", ca.stateDir().toString());
        assertThat(code).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8).trim()).isEqualTo(Certificates.serialHex(second));

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            X509CRL crl = crl();
            crl.verify(root.getPublicKey());
            assertThat(crl.getIssuerX500Principal()).isEqualTo(root.getSubjectX500Principal());
            assertThat(crlNumber(crl)).isGreaterThan(numberBefore);
            assertThat(crl.getNextUpdate()).isAfter(crl.getThisUpdate());
            X509CRLEntry e1 = crl.getRevokedCertificate(first.getSerialNumber());
            X509CRLEntry e2 = crl.getRevokedCertificate(second.getSerialNumber());
            assertThat(e1).isNotNull();
            assertThat(e1.getRevocationReason()).isEqualTo(CRLReason.KEY_COMPROMISE);
            assertThat(e2).isNotNull();
            assertThat(e2.getRevocationReason()).isEqualTo(CRLReason.SUPERSEDED);
            assertThat(crl.isRevoked(own)).isFalse();
            assertThat(crl.getRevokedCertificates()).hasSize(2);
        });

        // the same CRL reaches trust-bundle watchers and CaAdmin callers
        assertThat(ca.bootstrap().trustBundle().current().getCrlDer().toByteArray()).isEqualTo(crl().getEncoded());
        var viaAdmin = get(client.call(CaAdminGrpcClient.GetCrl, ca.serviceToken("admin"),
                GetCrlRequest.getDefaultInstance()));
        assertThat(viaAdmin.getCrlPem()).startsWith("-----BEGIN X509 CRL-----");
        var listed = get(client.call(CaAdminGrpcClient.ListRevocations, ca.serviceToken("admin"),
                ListRevocationsRequest.newBuilder().setIdentity(SLEEP).build()));
        assertThat(listed.getRevocationsList()).extracting(r -> r.getSerialHex())
                .containsExactlyInAnyOrder(Certificates.serialHex(first), Certificates.serialHex(second));
        assertThat(listed.getRevocations(0).getRevokedBy()).isNotEmpty();
    }

    @Test
    void onlyTheAdminServiceMayRevoke() {
        RevokeRequest req = RevokeRequest.newBuilder().setIdentity(SLEEP).build();
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, ca.nodeToken("node-a"), req)))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED));
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, null, req)))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.UNAUTHENTICATED));
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                RevokeRequest.newBuilder().setSerialHex("xyz").build())))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
                    assertThat(e.statusMessage()).contains("serial: 'xyz'");
                });
    }

    @Test
    void badRevokeRequestsGetThePreciseFieldAndAreCounted() {
        String admin = ca.serviceToken("admin");
        double before = ca.metric("ca_admin_refused_total", "method", "Revoke", "reason", "invalid_argument");
        // a namespace that is no DNS label: the message says which part is wrong, not only the expected shape
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, admin, RevokeRequest.newBuilder()
                .setIdentity("spiffe://cluster.local/ns/Bad_NS/sa/sleep").build())))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
                    assertThat(e.statusMessage()).startsWith("identity: ").contains("namespace: 'Bad_NS'");
                });
        // an identity of another trust domain can have no certificate here: refused, not an empty success
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, admin, RevokeRequest.newBuilder()
                .setIdentity("spiffe://cluster.locl/ns/default/sa/sleep").build())))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
                    assertThat(e.statusMessage()).isEqualTo("identity: 'spiffe://cluster.locl/ns/default/sa/sleep'"
                            + " (expected: an identity of this CA's trust domain 'cluster.local')");
                });
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, admin,
                RevokeRequest.newBuilder().setSerialHex("12zz").build())))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.INVALID_ARGUMENT));
        assertThat(ca.metric("ca_admin_refused_total", "method", "Revoke", "reason", "invalid_argument"))
                .isEqualTo(before + 3);
        // the CLI applies the same check
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = new CaCli(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true,
                StandardCharsets.UTF_8), Clock.systemUTC()).run("revoke", "--identity",
                "spiffe://cluster.locl/ns/default/sa/sleep", "--state-dir", ca.stateDir().toString());
        assertThat(code).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--identity: 'spiffe://cluster.locl/ns/default/sa/"
                + "sleep' (expected: an identity of this CA's trust domain 'cluster.local')");
        assertThatThrownBy(() -> get(client.call(CaAdminGrpcClient.Revoke, ca.nodeToken("node-a"),
                RevokeRequest.newBuilder().setIdentity(SLEEP).build()))).cause()
                .isInstanceOf(CaCallException.class);
        assertThat(ca.metric("ca_admin_refused_total", "method", "Revoke", "reason", "permission_denied"))
                .isPositive();
    }

    private static BigInteger crlNumber(X509CRL crl) {
        byte[] ext = crl.getExtensionValue("2.5.29.20");
        return org.bouncycastle.asn1.ASN1Integer.getInstance(
                org.bouncycastle.asn1.ASN1OctetString.getInstance(ext).getOctets()).getValue();
    }
}
