package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.testing.mesh.SyntheticMesh;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel follows {@code discovery.rootCertFile}: policy comes back on the same address with a certificate under a
 * new root; until the mounted file carries that root ztunnel refuses policy (and keeps its configuration), then it
 * reconnects and syncs without a restart. Bad content in the file is refused and counted, the roots in force stay.
 */
class PolicyChannelTest {

    static final String NODE = "node-0";
    static final String TOKEN = "token-node-0";

    @TempDir
    Path dir;
    Vertx policyVertx;
    Vertx ztunnelVertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    PolicyChannel channel;
    DeltaAdsClient client;
    PrometheusRegistry metrics;
    WorkloadStore store;
    Path rootFile;

    @BeforeEach
    void setUp() throws Exception {
        policyVertx = Vertx.vertx();
        ztunnelVertx = Vertx.vertx();
        rootFile = dir.resolve("root-cert.pem");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.stop();
        }
        if (channel != null) {
            channel.close();
        }
        if (policy != null) {
            policy.close();
        }
        if (tokenReview != null) {
            tokenReview.close();
        }
        for (Vertx v : new Vertx[] {ztunnelVertx, policyVertx}) {
            v.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    /** Replaces the file in one rename, as the kubelet's symlink swap appears to a reader. */
    void writeRoots(String pem) throws Exception {
        Path tmp = dir.resolve("root-cert.pem.tmp");
        Files.writeString(tmp, pem);
        Files.move(tmp, rootFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** A replica serving {@code mesh} under {@code pki} on {@code port} (0: any), with its own TokenReview. */
    AdsServerHarness replica(TestPki pki, SyntheticMesh mesh, int port) throws Exception {
        if (tokenReview != null) {
            tokenReview.close();
        }
        tokenReview = new FakeTokenReview(policyVertx, pki).nodeToken(TOKEN, NODE);
        AdsServerHarness h = new AdsServerHarness(policyVertx, pki, tokenReview, 2000);
        h.apply(mesh.records());
        h.start(port);
        return h;
    }

    @Test
    void aPolicyCertificateUnderANewRootVerifiesOnceTheFileCarriesTheRoot() throws Exception {
        TestPki first = TestPki.create(Files.createDirectory(dir.resolve("first")));
        policy = replica(first, new SyntheticMesh(20, 2, 1, 2, 1), 0);
        int port = policy.port();
        int before = policy.state().addresses().size();
        writeRoots(first.roots);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_NODE_NAME", NODE, "MESH_DISCOVERY_INITIAL_BACKOFF", "50ms", "MESH_DISCOVERY_MAX_BACKOFF", "300ms",
                "MESH_DISCOVERY_ROOT_CERT_FILE", rootFile.toString(),
                "MESH_DISCOVERY_ROOT_CERT_RELOAD_INTERVAL", "100ms")).config();
        metrics = new PrometheusRegistry();
        store = new WorkloadStore();
        channel = PolicyChannel.open(ztunnelVertx, config.discovery(), metrics);
        client = new DeltaAdsClient(ztunnelVertx, channel.grpc(), SocketAddress.inetSocketAddress(port, "127.0.0.1"),
                () -> TOKEN, config, store, new RetainedPolicies(), metrics);
        client.start();
        await().atMost(Duration.ofSeconds(30)).until(() -> addresses() == before);

        // garbage in the file: refused once, counted, the roots in force stay
        writeRoots("not a certificate");
        await().atMost(Duration.ofSeconds(10)).until(() -> reloads("invalid") == 1.0);
        assertThat(channel.roots()).isEqualTo(first.roots);

        // policy comes back on the same address under a new root, serving more: refused until the file has it
        policy.close();
        TestPki second = TestPki.create(Files.createDirectory(dir.resolve("second")));
        policy = replica(second, new SyntheticMesh(30, 3, 1, 2, 1), port);
        int after = policy.state().addresses().size();
        assertThat(after).isGreaterThan(before);
        Thread.sleep(1500); // several reconnect attempts (backoff at most 300 ms), each refusing policy's certificate
        assertThat(addresses()).as("the configuration held is kept").isEqualTo(before);
        assertThat(policy.streams()).isZero();

        writeRoots(first.roots + second.roots);
        await().atMost(Duration.ofSeconds(30)).until(() -> addresses() == after);
        assertThat(reloads("applied")).isEqualTo(1.0);
        assertThat(reloads("invalid")).isEqualTo(1.0);
    }

    /**
     * The client to policy follows the mesh's TLS rules: TLS 1.3 and AES-GCM only, on BoringSSL when it loads (the
     * JDK's engine had Netty load the whole Bouncy Castle provider on an event loop at the first connection).
     */
    @Test
    void theClientToPolicyIsTls13AesGcmOnTheMeshsEngine() {
        var o = PolicyChannel.options("roots");
        assertThat(o.getEnabledSecureTransportProtocols()).containsExactly(io.jmesh.core.tls.TlsPolicy.PROTOCOL);
        assertThat(o.getEnabledCipherSuites())
                .containsExactlyInAnyOrderElementsOf(io.jmesh.core.tls.TlsPolicy.CIPHER_SUITES);
        assertThat(o.getSslEngineOptions() instanceof io.vertx.core.net.OpenSSLEngineOptions)
                .isEqualTo(io.jmesh.core.tls.TlsPolicy.provider() == io.netty.handler.ssl.SslProvider.OPENSSL);
    }

    int addresses() {
        return client.versions().get(DeltaAdsClient.ADDRESS_TYPE).size();
    }

    double reloads(String outcome) {
        for (var s : metrics.scrape()) {
            if (s.getMetadata().getName().equals("ztunnel_tls_reloads")) {
                for (var d : ((CounterSnapshot) s).getDataPoints()) {
                    if ("discovery_roots".equals(d.getLabels().get("material"))
                            && outcome.equals(d.getLabels().get("outcome"))) {
                        return d.getValue();
                    }
                }
            }
        }
        return -1;
    }
}
