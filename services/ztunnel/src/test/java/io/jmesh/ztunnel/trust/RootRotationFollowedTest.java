package io.jmesh.ztunnel.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.cli.CaCli;
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
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.Socks5Client;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documented root rotation (docs/ca.md: {@code root prepare}, {@code root activate}) run with the ca's CLI while
 * two ztunnels follow the trust bundle: they trust both roots as soon as the new one is prepared; during the
 * overlap a client certificate under the old root and one under the new root are both accepted by node-b's HBONE
 * listener (whose own certificate is under the old root), the existing mesh traffic keeps working, and a CRL
 * signed by the new root revokes a certificate issued under the old one. After the ca restarts with a serving
 * certificate under the new root, the ztunnels still reach it (they trust the bundle's roots for it). Finally
 * {@code root retire}: live tunnels that chain only to the old root close at once and the ztunnels re-issue their
 * own old-root certificates, so the mesh keeps working under the new root alone.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RootRotationFollowedTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");
    static final SpiffeId ECHO = SpiffeId.of("cluster.local", "default", "echo");

    // a kept state directory and a fixed port, so the ca can restart with its new root where the ztunnels expect it
    static final Path CA_STATE = tempDirectory();

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().place("node-a", SLEEP).place("node-b", ECHO)
            .stateDir(CA_STATE).config("grpc.port", Integer.toString(freePort())).build();

    @TempDir
    static Path dir;
    static RealCaMesh mesh;

    @BeforeAll
    static void start() throws Exception {
        mesh = new RealCaMesh(ca, dir, "127.0.112.11", "127.0.122.11");
        await().atMost(Duration.ofSeconds(30)).until(mesh::followingCa);
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
        try (var files = java.nio.file.Files.walk(CA_STATE)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    @Test
    void bothRootsAreTrustedDuringTheOverlapAndTheNewRootsCrlCoversOldCertificates() throws Exception {
        X509Certificate oldRoot = mesh.nodeB.ztunnel.trust().roots().get(0);
        assertThat(mesh.nodeB.ztunnel.trust().roots()).hasSize(1);
        TestCsrs.Csr oldKey = TestCsrs.forIdentity(SLEEP.uri());
        X509Certificate underOld = issue(String.join("", ca.rootPems()), oldKey);

        // 1. prepare: the new root is streamed to both ztunnels, which trust both
        cli("root", "prepare");
        await().atMost(Duration.ofSeconds(15)).until(() -> mesh.nodeA.ztunnel.trust().roots().size() == 2
                && mesh.nodeB.ztunnel.trust().roots().size() == 2);
        X509Certificate newRoot = mesh.nodeB.ztunnel.trust().roots().stream().filter(r -> !r.equals(oldRoot))
                .findFirst().orElseThrow();

        // 2. activate: new certificates chain to the new root
        cli("root", "activate");
        await().atMost(Duration.ofSeconds(15))
                .until(() -> ca.bootstrap().authority().signingCert().equals(newRoot));
        TestCsrs.Csr newKey = TestCsrs.forIdentity(SLEEP.uri());
        X509Certificate underNew = issue(String.join("", ca.rootPems()), newKey);
        assertThat(underNew.getIssuerX500Principal()).isEqualTo(newRoot.getSubjectX500Principal());
        assertThat(underOld.getIssuerX500Principal()).isEqualTo(oldRoot.getSubjectX500Principal());

        // the overlap: node-b (its own certificate under the old root) accepts clients under either root
        assertThat(connect(oldKey, underOld)).isEqualTo(200);
        assertThat(connect(newKey, underNew)).isEqualTo(200);
        try (Socket s = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
            assertThat(RevokedPeerTest.echo(s, "overlap")).isEqualTo("overlap");
        }

        // 3. the CRL is now signed by the new root; ztunnel verifies it and applies it to old-root certificates too
        RevokeResponse revoked;
        try (CaClient client = new CaClient(mesh.vertx, ca.address(), String.join("", ca.rootPems()))) {
            revoked = RevokedPeerTest.get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                    RevokeRequest.newBuilder().setSerialHex(Certificates.serialHex(underOld)).build()));
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> mesh.nodeB.ztunnel.trustWatcher().appliedVersion()
                >= revoked.getTrustBundleVersion());
        assertThat(mesh.nodeB.ztunnel.trust().snapshot().revoked()).contains(underOld.getSerialNumber());
        assertThat(mesh.nodeB.metric("ztunnel_trust_bundle_rejected_total", "reason", "crl_signature")).isZero();
        assertThat(connect(oldKey, underOld)).isNotEqualTo(200);
        assertThat(mesh.nodeB.metric("ztunnel_peer_certificates_rejected_total", "direction", "inbound",
                "reason", "revoked")).isGreaterThanOrEqualTo(1);
        assertThat(connect(newKey, underNew)).isEqualTo(200);

        // 4. the ca restarts serving a certificate under the new root: the ztunnels (whose identity.rootCertFile
        // holds only the old root) reconnect trusting the bundle's roots, and follow the next change
        ca.stop();
        ca.start();
        RevokeResponse next;
        try (CaClient client = new CaClient(mesh.vertx, ca.address(), String.join("", ca.rootPems()))) {
            next = RevokedPeerTest.get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"),
                    RevokeRequest.newBuilder().setSerialHex(Certificates.serialHex(underNew)).build()));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> mesh.nodeA.ztunnel.trustWatcher().appliedVersion()
                >= next.getTrustBundleVersion() && mesh.nodeB.ztunnel.trustWatcher().appliedVersion()
                >= next.getTrustBundleVersion());
        assertThat(connect(newKey, underNew)).isNotEqualTo(200);

        // 5. retire: the old root leaves the bundle. Both ztunnels still hold their own certificates from before
        // the activation (under the old root), and the tunnel from node-a to node-b is pooled: that tunnel is
        // closed at once, both re-issue their certificates under the new root, and the mesh keeps working
        try (Socket s = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
            assertThat(RevokedPeerTest.echo(s, "before retire")).isEqualTo("before retire");
        }
        cli("root", "retire");
        await().atMost(Duration.ofSeconds(15)).until(() -> mesh.nodeA.ztunnel.trust().roots().equals(List.of(newRoot))
                && mesh.nodeB.ztunnel.trust().roots().equals(List.of(newRoot)));
        await().atMost(Duration.ofSeconds(15)).until(() -> mesh.nodeA.metric("ztunnel_revoked_connections_closed_total",
                "direction", "outbound", "reason", "root_retired") + mesh.nodeB.metric(
                "ztunnel_revoked_connections_closed_total", "direction", "inbound", "reason", "root_retired") >= 1);
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
            try (Socket s = Socks5Client.connect(mesh.nodeA.socks(), mesh.clientIp, mesh.echoIp, mesh.echoPort)) {
                return "after retire".equals(RevokedPeerTest.echo(s, "after retire"));
            }
        });
    }

    private static Path tempDirectory() {
        try {
            return java.nio.file.Files.createTempDirectory("ca-rotation-state-");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int freePort() {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static X509Certificate issue(String trustedRoots, TestCsrs.Csr csr) throws Exception {
        try (CaClient client = new CaClient(mesh.vertx, ca.address(), trustedRoots)) {
            IstioCertificateResponse r = RevokedPeerTest.get(client.createCertificate(ca.nodeToken("node-a"),
                    csr.pem(), 3600, SLEEP.uri()));
            return Pem.certificate(r.getCertChain(0));
        }
    }

    private static int connect(TestCsrs.Csr key, X509Certificate cert) throws Exception {
        try (RawHboneClient raw = new RawHboneClient(key.keyPair().getPrivate(), cert)) {
            return raw.request(new InetSocketAddress(mesh.echoIp, 15008),
                    RawHboneClient.connect(mesh.echoIp + ":" + mesh.echoPort), "x").status();
        }
    }

    private static void cli(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--state-dir", ca.stateDir().toString()));
        int code = new CaCli(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true,
                StandardCharsets.UTF_8), Clock.systemUTC()).run(all.toArray(new String[0]));
        assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
    }
}
