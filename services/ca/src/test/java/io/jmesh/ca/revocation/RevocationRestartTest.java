package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.CaAdminGrpcClient;
import io.jmesh.proto.ca.v1.RevokeRequest;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A revocation reaches a live watcher, and survives a restart of the CA: the restarted CA's CRL still lists it
 * under a higher CRL number, and a watcher coming back with the version it held gets the restarted CA's bundle.
 */
@Timeout(90)
class RevocationRestartTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @TempDir
    Path state;

    Vertx vertx = Vertx.vertx();
    CaServerExtension ca;

    @AfterEach
    void stop() throws Exception {
        if (ca != null) {
            ca.stop();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private CaServerExtension start() {
        CaServerExtension c = CaServerExtension.builder().stateDir(state).replica("ca-0").build();
        c.start();
        return c;
    }

    @Test
    void aRevocationReachesWatchersAndSurvivesARestart() throws Exception {
        ca = start();
        CaClient client = ca.client(vertx);
        X509Certificate cert = Pem.certificate(get(client.createCertificate(ca.nodeToken("node-a"),
                TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null)).getCertChain(0));
        List<TrustBundle> watched = new CopyOnWriteArrayList<>();
        get(client.watchTrustBundle(0, watched::add));
        await().atMost(Duration.ofSeconds(10)).until(() -> !watched.isEmpty());

        get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                RevokeRequest.newBuilder().setSerialHex(cert.getSerialNumber().toString(16)).build()));
        await().atMost(Duration.ofSeconds(10)).until(() -> crl(watched.get(watched.size() - 1)).isRevoked(cert));
        TrustBundle before = watched.get(watched.size() - 1);
        client.close();
        ca.stop();

        ca = start();
        X509CRL after = crl(ca.bootstrap().trustBundle().current());
        assertThat(after.isRevoked(cert)).isTrue();
        assertThat(crlNumber(after)).isGreaterThan(crlNumber(crl(before)));
        // a watcher that held the bundle of the CA before its restart is sent the restarted CA's
        List<TrustBundle> again = new CopyOnWriteArrayList<>();
        CaClient second = ca.client(vertx);
        get(second.watchTrustBundle(before.getVersion(), again::add));
        await().atMost(Duration.ofSeconds(10)).until(() -> !again.isEmpty());
        assertThat(again.get(0).getVersion()).isGreaterThan(before.getVersion());
        assertThat(crl(again.get(0)).isRevoked(cert)).isTrue();
        second.close();
    }

    private static X509CRL crl(TrustBundle b) throws Exception {
        return (X509CRL) CertificateFactory.getInstance("X.509")
                .generateCRL(new ByteArrayInputStream(b.getCrlDer().toByteArray()));
    }

    private static BigInteger crlNumber(X509CRL crl) {
        return org.bouncycastle.asn1.ASN1Integer.getInstance(org.bouncycastle.asn1.ASN1OctetString.getInstance(
                crl.getExtensionValue("2.5.29.20")).getOctets()).getValue();
    }
}
