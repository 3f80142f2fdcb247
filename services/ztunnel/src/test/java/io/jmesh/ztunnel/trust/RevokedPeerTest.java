package io.jmesh.ztunnel.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.CaAdminGrpcClient;
import io.jmesh.proto.ca.v1.RevokeRequest;
import io.jmesh.proto.ca.v1.RevokeResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.ztunnel.identity.WorkloadCertificate;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.vertx.core.Future;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Revocation end to end with the real ca: an operator revokes the client workload's identity through
 * {@code CaAdmin/Revoke}; the new CRL reaches both ztunnels over {@code TrustBundleService/Watch}; the live HBONE
 * tunnel using the revoked certificate is closed, a new handshake with a revoked certificate is refused (reason
 * {@code revoked}), and the client's ztunnel drops its revoked certificate, gets a new one and works again.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RevokedPeerTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");
    static final SpiffeId ECHO = SpiffeId.of("cluster.local", "default", "echo");

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().place("node-a", SLEEP).place("node-b", ECHO).build();

    @TempDir
    static Path dir;
    static RealCaMesh mesh;

    @BeforeAll
    static void start() throws Exception {
        mesh = new RealCaMesh(ca, dir, "127.0.111.11", "127.0.121.11");
        await().atMost(Duration.ofSeconds(30)).until(mesh::followingCa);
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
    }

    @Test
    void revokingTheClientClosesItsLiveTunnelRefusesItAndItGetsANewCertificate() throws Exception {
        WorkloadCertificate before = mesh.nodeA.ztunnel.identities().current(SLEEP);
        assertThat(before).isNotNull();
        long bundleWithCrl;
        try (Socket live = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
            assertThat(echo(live, "before")).isEqualTo("before");

            RevokeResponse revoked;
            try (CaClient client = ca.client(mesh.vertx)) {
                revoked = get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                        RevokeRequest.newBuilder().setIdentity(SLEEP.uri()).setComment("leaked key").build()));
            }
            assertThat(revoked.getRevokedSerialsHexList()).contains(before.serial());
            bundleWithCrl = revoked.getTrustBundleVersion();

            // the live tunnel ends: node-b closes its inbound connection, node-a its pooled one
            live.setSoTimeout(30_000);
            assertThat(readUntilClosed(live.getInputStream())).isTrue();
        }
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertThat(mesh.nodeB.ztunnel.trustWatcher().appliedVersion())
                    .isGreaterThanOrEqualTo(bundleWithCrl);
            assertThat(mesh.nodeB.metric("ztunnel_revoked_connections_closed_total", "direction", "inbound",
                    "reason", "revoked")
                    + mesh.nodeA.metric("ztunnel_revoked_connections_closed_total", "direction", "outbound",
                            "reason", "revoked"))
                    .isGreaterThanOrEqualTo(1);
        });

        // node-a dropped its revoked certificate and got a new one; the client works again
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            WorkloadCertificate now = mesh.nodeA.ztunnel.identities().current(SLEEP);
            assertThat(now).isNotNull();
            assertThat(now.serial()).isNotEqualTo(before.serial());
        });
        assertThat(mesh.nodeA.metric("ztunnel_certificates_revoked_total")).isGreaterThanOrEqualTo(1);
        // operators see the bundle in force and its revoked serials in /config_dump
        var dumped = mesh.nodeB.ztunnel.localAdmin().configDump().getJsonObject("trustBundle");
        assertThat(dumped.getLong("version")).isGreaterThanOrEqualTo(bundleWithCrl);
        assertThat(dumped.getString("source")).isEqualTo("ca-watch");
        assertThat(dumped.getJsonArray("revokedSerials").getList()).contains(before.serial());
        assertThat(dumped.getJsonArray("roots")).hasSize(1);
        assertThat(mesh.nodeB.metric("ztunnel_trust_bundle_crl_expiry_seconds")).isPositive();
        try (Socket again = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
            assertThat(echo(again, "after")).isEqualTo("after");
        }
    }

    @Test
    void aLiveInboundTunnelWhosePeerSerialIsRevokedIsClosedAndTheCertificateIsRefusedAfterwards() throws Exception {
        // a certificate of the client identity with a key the test holds: only node-b's inbound side sees it
        TestCsrs.Csr csr = TestCsrs.forIdentity(SLEEP.uri());
        X509Certificate cert;
        try (CaClient client = ca.client(mesh.vertx)) {
            IstioCertificateResponse r = get(client.createCertificate(ca.nodeToken("node-a"), csr.pem(), 3600,
                    SLEEP.uri()));
            cert = Pem.certificate(r.getCertChain(0));
        }
        InetSocketAddress nodeBHbone = new InetSocketAddress(mesh.echoIp, 15008);
        double closedBefore = mesh.nodeB.metric("ztunnel_revoked_connections_closed_total", "direction", "inbound",
                "reason", "revoked");
        double crlBefore = mesh.nodeB.metric("istio_crl_policy_rejections_total", "reporter", "destination");
        int openBefore = mesh.nodeB.ztunnel.inbound().openHboneConnections();
        try (RawHboneClient raw = new RawHboneClient(csr.keyPair().getPrivate(), cert)) {
            // a tunnel that stays open: CONNECT answered 200, no END_STREAM from either side
            CompletableFuture<RawHboneClient.Answer> tunnel = CompletableFuture.supplyAsync(() -> {
                try {
                    return raw.request(nodeBHbone, RawHboneClient.connect(mesh.echoIp + ":" + mesh.echoPort), null);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> mesh.nodeB.ztunnel.inbound().openHboneConnections() > openBefore);
            try (CaClient client = ca.client(mesh.vertx)) {
                get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"), RevokeRequest.newBuilder()
                        .setSerialHex(Certificates.serialHex(cert)).setComment("test").build()));
            }
            // node-b closes it (the raw client would otherwise wait 15 s for an END_STREAM)
            assertThat(tunnel.get(15, TimeUnit.SECONDS).failure()).contains("closed");
            assertThat(mesh.nodeB.metric("ztunnel_revoked_connections_closed_total", "direction", "inbound",
                    "reason", "revoked"))
                    .isGreaterThanOrEqualTo(closedBefore + 1);

            // a new handshake with the revoked certificate is refused, counted with reason revoked
            assertThat(raw.request(nodeBHbone, RawHboneClient.connect(mesh.echoIp + ":" + mesh.echoPort), "hi")
                    .status()).isNotEqualTo(200);
        }
        assertThat(mesh.nodeB.metric("ztunnel_peer_certificates_rejected_total", "direction", "inbound",
                "reason", "revoked")).isGreaterThanOrEqualTo(1);
        assertThat(mesh.nodeB.ztunnel.telemetry().rejections(false, "revoked")).isGreaterThanOrEqualTo(1);
        assertThat(mesh.nodeB.metric("istio_crl_policy_rejections_total", "reporter", "destination"))
                .as("Istio's series: the live tunnel closed and the handshake refused")
                .isGreaterThanOrEqualTo(crlBefore + 2);
    }

    @Test
    void revokingTheServerClosesThePooledOutboundConnectionAndTheServerGetsANewCertificate() throws Exception {
        WorkloadCertificate before = mesh.nodeB.ztunnel.identities().current(ECHO);
        assertThat(before).isNotNull();
        double closedBefore = mesh.nodeA.metric("ztunnel_revoked_connections_closed_total", "direction", "outbound",
                "reason", "revoked");
        double crlBefore = mesh.nodeA.metric("istio_crl_policy_rejections_total", "reporter", "source");
        try (Socket live = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
            assertThat(echo(live, "server")).isEqualTo("server");
            try (CaClient client = ca.client(mesh.vertx)) {
                get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                        RevokeRequest.newBuilder().setIdentity(ECHO.uri()).build()));
            }
            // node-a no longer trusts its peer: it closes the pooled connection (node-b keeps connections its own
            // revoked certificate authenticated; their clients close them)
            live.setSoTimeout(30_000);
            assertThat(readUntilClosed(live.getInputStream())).isTrue();
        }
        assertThat(mesh.nodeA.metric("ztunnel_revoked_connections_closed_total", "direction", "outbound",
                "reason", "revoked"))
                .isGreaterThanOrEqualTo(closedBefore + 1);
        assertThat(mesh.nodeA.metric("istio_crl_policy_rejections_total", "reporter", "source"))
                .isGreaterThanOrEqualTo(crlBefore + 1);
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            WorkloadCertificate now = mesh.nodeB.ztunnel.identities().current(ECHO);
            assertThat(now).isNotNull();
            assertThat(now.serial()).isNotEqualTo(before.serial());
        });
        try (Socket again = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
            assertThat(echo(again, "server again")).isEqualTo("server again");
        }
    }

    static String echo(Socket s, String text) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
        byte[] buf = new byte[text.length()];
        InputStream in = s.getInputStream();
        int got = 0;
        while (got < buf.length) {
            int n = in.read(buf, got, buf.length - got);
            if (n < 0) {
                break;
            }
            got += n;
        }
        return new String(buf, 0, got, StandardCharsets.UTF_8);
    }

    /** True when the peer closed (EOF or reset) before the socket's read timeout. */
    static boolean readUntilClosed(InputStream in) {
        byte[] buf = new byte[1024];
        try {
            for (int i = 0; i < 1_000; i++) {
                if (in.read(buf) < 0) {
                    return true;
                }
            }
            return false;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
}
