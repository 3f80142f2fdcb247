package io.jmesh.ca.replicas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.RevocationReason;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Two replicas started at the same moment on one state directory share one root, tokens and revocations. */
@Timeout(90)
class SharedStateReplicasTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";

    @TempDir
    Path state;

    CaServerExtension a;
    CaServerExtension b;
    Vertx vertx;

    @BeforeEach
    void startBoth() throws Exception {
        a = CaServerExtension.builder().stateDir(state).replica("ca-a").place("node-a", SpiffeId.parse(SLEEP)).build();
        b = CaServerExtension.builder().stateDir(state).replica("ca-b").place("node-a", SpiffeId.parse(SLEEP)).build();
        // at the same time: the first one generates the root under the directory lock, the other loads it
        CompletableFuture.allOf(CompletableFuture.runAsync(a::start), CompletableFuture.runAsync(b::start))
                .get(60, TimeUnit.SECONDS);
        vertx = Vertx.vertx();
    }

    @AfterEach
    void stopBoth() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        a.stop();
        b.stop();
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    @Test
    void bothReplicasServeConcurrentlyUnderOneRoot() throws Exception {
        assertThat(a.rootsPem()).isEqualTo(b.rootsPem());
        assertThat(Pem.certificates(Files.readString(state.resolve("root-cert.pem"))))
                .containsExactlyElementsOf(Pem.certificates(a.rootsPem()));
        String token = a.nodeToken("node-a"); // minted through replica a, used at both
        await().atMost(Duration.ofSeconds(10)).until(() -> b.bootstrap().tokens().review(token).authenticated());

        CaClient toA = a.client(vertx);
        CaClient toB = b.client(vertx);
        List<Future<IstioCertificateResponse>> calls = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            CaClient c = i % 2 == 0 ? toA : toB;
            calls.add(c.createCertificate(token, TestCsrs.forIdentity(SLEEP).pem(), 3600, SLEEP));
        }
        get(Future.all(calls));
        List<X509Certificate> roots = Pem.certificates(a.rootsPem());
        Set<BigInteger> serials = new HashSet<>();
        for (Future<IstioCertificateResponse> f : calls) {
            X509Certificate leaf = Pem.certificate(f.result().getCertChain(0));
            Certificates.verifyChain(List.of(leaf), roots, new Date());
            serials.add(leaf.getSerialNumber());
        }
        assertThat(serials).hasSize(40);
        assertThat(a.metric("ca_certificates_issued_total", "trust_domain", "cluster.local")).isEqualTo(20);
        assertThat(b.metric("ca_certificates_issued_total", "trust_domain", "cluster.local")).isEqualTo(20);

        // revoking the identity at replica a finds the certificates replica b issued too, and b's CRL follows
        var revoked = a.bootstrap().revocations().revokeIdentity(SLEEP, RevocationReason.SUPERSEDED, "", "test");
        assertThat(revoked).hasSize(40);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            var crl = (java.security.cert.X509CRL) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCRL(new java.io.ByteArrayInputStream(b.bootstrap().revocations().crl().der()));
            assertThat(crl.getRevokedCertificates()).hasSize(40);
        });
        toA.close();
        toB.close();
    }
}
