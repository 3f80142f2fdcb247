package io.jmesh.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.testing.KafkaExtension;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * policy follows its TLS files as Kubernetes updates them (a Secret or ConfigMap volume swaps a {@code ..data}
 * symlink): a new serving certificate serves new connections while open streams stay, a half-finished or
 * mismatched pair is refused and counted, and new CA roots are used for the TokenReview connection after the CA
 * moved to them. Whatever it serves, a connection that negotiated a suite other than AES-GCM is closed.
 */
class TlsFilesReloadTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    Path dir;
    Vertx vertx;
    TestPki pki;
    FakeTokenReview tokenReview;
    PolicyBootstrap policy;
    final List<DeltaAdsTestClient> clients = new ArrayList<>();
    Path secret;
    int version;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        pki = TestPki.create(Files.createDirectory(dir.resolve("pki")));
        tokenReview = new FakeTokenReview(vertx, pki).nodeToken("token-a", "node-a");
        secret = Files.createDirectory(dir.resolve("secret"));
    }

    @AfterEach
    void tearDown() throws Exception {
        clients.forEach(DeltaAdsTestClient::close);
        if (policy != null) {
            policy.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    /** Writes the files into a new directory and swaps {@code secret/..data} to it, as the kubelet does. */
    Path publish(String... nameAndContent) throws Exception {
        Path data = Files.createDirectory(secret.resolve("..data_" + ++version));
        for (int i = 0; i < nameAndContent.length; i += 2) {
            Files.writeString(data.resolve(nameAndContent[i]), nameAndContent[i + 1]);
        }
        Path tmp = secret.resolve("..data_tmp");
        Files.deleteIfExists(tmp);
        Files.createSymbolicLink(tmp, data.getFileName());
        Files.move(tmp, secret.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        for (int i = 0; i < nameAndContent.length; i += 2) {
            Path link = secret.resolve(nameAndContent[i]);
            if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(link, Path.of("..data", nameAndContent[i]));
            }
        }
        return data;
    }

    void startPolicy(Path caFile) throws Exception {
        String topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        PolicyConfig config = new PolicyConfig("info", Duration.ofSeconds(5), new AdminConfig("127.0.0.1", 0),
                new PolicyConfig.Mesh("istio-system", "cluster.local", "Kubernetes", "cluster.local"),
                new PolicyConfig.Kafka(kafka.bootstrapServers(), topic, (short) 1),
                new PolicyConfig.Xds("127.0.0.1", 0, secret.resolve("tls.crt").toString(),
                        secret.resolve("tls.key").toString(), 100, Duration.ofMillis(100)),
                new PolicyConfig.TokenReview("127.0.0.1", tokenReview.port(), caFile.toString(), "",
                        Duration.ofSeconds(5)),
                new PolicyConfig.ConfigAdmin(List.of()), new PolicyConfig.Manifests("", Duration.ofMillis(100)),
                PolicyConfig.Kubernetes.OFF);
        policy = new PolicyBootstrap(config, ServiceContext.create(vertx));
        policy.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        policy.registry().ready().get(60, TimeUnit.SECONDS);
    }

    DeltaAdsTestClient connected() {
        DeltaAdsTestClient c = new DeltaAdsTestClient(vertx, pki, policy.port(), "token-a", "node-a").connect();
        clients.add(c);
        return c;
    }

    @Test
    void aNewServingCertificateServesNewConnectionsAndABadOneIsRefused() throws Exception {
        Path first = Files.createDirectory(dir.resolve("first"));
        X509Certificate one = pki.issue(first);
        publish("tls.crt", Files.readString(first.resolve("cert.pem")),
                "tls.key", Files.readString(first.resolve("key.pem")));
        startPolicy(pki.rootPem);
        assertThat(servedSerial()).isEqualTo(one.getSerialNumber());
        DeltaAdsTestClient open = connected();
        await().atMost(Duration.ofSeconds(20)).until(() -> !open.responses.isEmpty());

        Path second = Files.createDirectory(dir.resolve("second"));
        X509Certificate two = pki.issue(second);
        publish("tls.crt", Files.readString(second.resolve("cert.pem")),
                "tls.key", Files.readString(second.resolve("key.pem")));
        await().atMost(Duration.ofSeconds(20)).until(() -> servedSerial().equals(two.getSerialNumber()));
        assertThat(reloads("serving_certificate", "applied")).isEqualTo(1.0);
        assertThat(open.ended).as("a stream opened before the swap stays").isNotDone();
        DeltaAdsTestClient after = connected();
        await().atMost(Duration.ofSeconds(20)).until(() -> !after.responses.isEmpty());

        // a certificate whose key is not the one next to it: refused, the second one keeps serving
        Path third = Files.createDirectory(dir.resolve("third"));
        pki.issue(third);
        publish("tls.crt", Files.readString(third.resolve("cert.pem")),
                "tls.key", Files.readString(second.resolve("key.pem")));
        await().atMost(Duration.ofSeconds(20)).until(() -> reloads("serving_certificate", "invalid") == 1.0);
        assertThat(servedSerial()).isEqualTo(two.getSerialNumber());
        Thread.sleep(500); // several more checks of the same content: refused (and logged) once
        assertThat(reloads("serving_certificate", "invalid")).isEqualTo(1.0);
        assertThat(gauge("policy_serving_certificate_expiry_seconds")).isBetween(3000.0, 7300.0);
    }

    @Test
    void newCaRootsAreUsedForTheTokenReviewOnceTheCaMovedToThem() throws Exception {
        Path first = Files.createDirectory(dir.resolve("first"));
        pki.issue(first);
        publish("tls.crt", Files.readString(first.resolve("cert.pem")),
                "tls.key", Files.readString(first.resolve("key.pem")), "root-cert.pem", pki.roots);
        startPolicy(secret.resolve("root-cert.pem"));
        DeltaAdsTestClient before = connected();
        await().atMost(Duration.ofSeconds(20)).until(() -> !before.responses.isEmpty());

        // the CA comes back (same address) under a new root; policy still trusts only the old one
        TestPki next = TestPki.create(Files.createDirectory(dir.resolve("next")));
        int port = tokenReview.port();
        tokenReview.close();
        tokenReview = new FakeTokenReview(vertx, next, port).nodeToken("token-a", "node-a");
        DeltaAdsTestClient refused = connected();
        assertThat(refused.ended.get(30, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.UNAVAILABLE);

        publish("tls.crt", Files.readString(first.resolve("cert.pem")),
                "tls.key", Files.readString(first.resolve("key.pem")), "root-cert.pem", pki.roots + next.roots);
        await().atMost(Duration.ofSeconds(20)).until(() -> reloads("ca_roots", "applied") == 1.0);
        DeltaAdsTestClient after = connected();
        await().atMost(Duration.ofSeconds(20)).until(() -> !after.responses.isEmpty());
        assertThat(reloads("serving_certificate", "applied")).as("the unchanged certificate is not reapplied")
                .isEqualTo(0.0);
    }

    /**
     * BoringSSL cannot take ChaCha20-Poly1305 off TLS 1.3's list: a client offering only it gets it negotiated, and
     * policy must close such a connection rather than serve it (AES-GCM only, as every mesh listener).
     */
    @Test
    void aClientThatOffersOnlyChaCha20IsNotServed() throws Exception {
        Path first = Files.createDirectory(dir.resolve("first"));
        pki.issue(first);
        publish("tls.crt", Files.readString(first.resolve("cert.pem")),
                "tls.key", Files.readString(first.resolve("key.pem")));
        startPolicy(pki.rootPem);
        try (SSLSocket s = (SSLSocket) trustingContext().getSocketFactory().createSocket("127.0.0.1",
                policy.port())) {
            s.setSoTimeout(10_000);
            s.setEnabledCipherSuites(new String[] {"TLS_CHACHA20_POLY1305_SHA256"});
            javax.net.ssl.SSLParameters params = s.getSSLParameters();
            params.setApplicationProtocols(new String[] {"h2"});
            s.setSSLParameters(params);
            String outcome;
            try {
                s.startHandshake();
                // the HTTP/2 preface and an empty SETTINGS frame; a served connection answers and stays open
                s.getOutputStream().write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(
                        java.nio.charset.StandardCharsets.US_ASCII));
                s.getOutputStream().write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
                s.getOutputStream().flush();
                byte[] buf = new byte[4096];
                while (s.getInputStream().read(buf) >= 0) {
                    // the server's SETTINGS, if it sent them before closing
                }
                outcome = "closed after negotiating " + s.getSession().getCipherSuite();
            } catch (java.net.SocketTimeoutException served) {
                outcome = "still open after 10 s with " + s.getSession().getCipherSuite();
            } catch (java.io.IOException refused) {
                outcome = "closed: " + refused.getMessage(); // a JDK provider refuses it in the handshake
            }
            assertThat(outcome).startsWith("closed");
        }
    }

    SSLContext trustingContext() throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("root", io.jmesh.core.tls.Pem.certificate(pki.roots));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLSv1.3");
        ssl.init(null, tmf.getTrustManagers(), null);
        return ssl;
    }

    /** The serial of the certificate a fresh TLS connection to policy is shown. */
    BigInteger servedSerial() throws Exception {
        try (SSLSocket s = (SSLSocket) trustingContext().getSocketFactory().createSocket("127.0.0.1",
                policy.port())) {
            s.setSoTimeout(5000);
            s.startHandshake();
            return ((X509Certificate) s.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    double reloads(String material, String outcome) {
        var snapshots = policy.metricsForTest().scrape();
        for (var s : snapshots) {
            if (s.getMetadata().getName().equals("policy_tls_reloads")) {
                for (var d : ((io.prometheus.metrics.model.snapshots.CounterSnapshot) s).getDataPoints()) {
                    if (material.equals(d.getLabels().get("material")) && outcome.equals(d.getLabels().get("outcome"))) {
                        return d.getValue();
                    }
                }
            }
        }
        return -1;
    }

    double gauge(String name) {
        for (var s : policy.metricsForTest().scrape()) {
            if (s.getMetadata().getName().equals(name)) {
                return ((io.prometheus.metrics.model.snapshots.GaugeSnapshot) s).getDataPoints().get(0).getValue();
            }
        }
        return -1;
    }
}
