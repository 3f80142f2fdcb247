package io.jmesh.ca.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Secret;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.grpc.common.GrpcStatus;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The CA in Kubernetes mode, over real gRPC/TLS, against a mock API server: ztunnels authenticate with projected
 * ServiceAccount tokens (TokenReview), impersonation still needs the workload on the token's node, the root lives
 * in a Secret that a restarted CA (with an empty state directory) adopts, the roots are published to the
 * {@code istio-ca-root-cert} ConfigMap, and policy's serving certificate is kept in the Secret {@code policy-tls}.
 */
@Timeout(120)
class KubernetesModeTest {

    static final String NS = "istio-system";
    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final long DAY = 86_400;

    static KubernetesApiServer k8s;
    static CaServerExtension ca;
    static Vertx vertx;
    static CaClient client;
    static String nodeA;
    static String nodeB;

    @BeforeAll
    static void start() {
        k8s = new KubernetesApiServer();
        ca = caReplica();
        ca.start();
        vertx = Vertx.vertx();
        client = ca.client(vertx);
        Instant exp = Instant.now().plus(Duration.ofHours(1));
        nodeA = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-a", "uid-a", "node-a", exp);
        String podB = k8s.pod(NS, "ztunnel-b", "node-b");
        nodeB = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-b", podB, null, exp);
    }

    static CaServerExtension caReplica() {
        return CaServerExtension.builder().place("node-a", SpiffeId.parse(SLEEP))
                .config("kubernetes.enabled", "true").config("kubernetes.apiServer", k8s.url())
                .config("kubernetes.tokenFile", "").config("kubernetes.namespace", NS)
                .config("kubernetes.servingSecrets",
                        "[{secret: policy-tls, service: policy, dnsSans: [policy.istio-system.svc]}]").build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        ca.stop();
        k8s.close();
    }

    @AfterEach
    void healthy() {
        k8s.reviewStatus(200);
    }

    static <T> T await(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    static String secretKey(String key) {
        Secret s = k8s.client().secrets().inNamespace(NS).withName("istio-ca-secret").get();
        return new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8);
    }

    @Test
    void aZtunnelWithItsProjectedTokenObtainsACertificateForAWorkloadOnItsNode() throws Exception {
        var resp = await(client.createCertificate(nodeA, TestCsrs.forIdentity(SLEEP).pem(), DAY, SLEEP));
        X509Certificate leaf = Pem.certificate(resp.getCertChain(0));
        X509Certificate root = Pem.certificate(secretKey(StateDirectory.CA_CERT));
        leaf.verify(root.getPublicKey()); // signed by the root kept in the Secret
        assertThat(Pem.certificates(resp.getCertChain(resp.getCertChainCount() - 1))).containsExactly(root);
        assertThat(Files.exists(ca.stateDir().resolve(StateDirectory.CA_KEY)))
                .as("no root key on the pod's disk").isFalse();
        String published = k8s.client().configMaps().inNamespace(NS).withName("istio-ca-root-cert").get().getData()
                .get("root-cert.pem");
        assertThat(published).isEqualTo(ca.rootsPem());
    }

    @Test
    void policysServingCertificateIsWrittenUnderTheMeshRootForAClientOfThePublishedRootsToVerify() throws Exception {
        Secret tls = k8s.client().secrets().inNamespace(NS).withName("policy-tls").get();
        assertThat(tls.getType()).isEqualTo("kubernetes.io/tls");
        String roots = k8s.client().configMaps().inNamespace(NS).withName("istio-ca-root-cert").get().getData()
                .get("root-cert.pem");
        // a real handshake: a server with the Secret's pair, a client trusting only the published roots and
        // checking the host name it dialled, as a ztunnel (Istio's too) checks policy.istio-system.svc
        NetServer server = vertx.createNetServer(new NetServerOptions().setHost("127.0.0.1").setPort(0).setSsl(true)
                .setKeyCertOptions(new PemKeyCertOptions()
                        .setCertValue(Buffer.buffer(entry(tls, "tls.crt"))).setKeyValue(Buffer.buffer(entry(tls, "tls.key")))))
                .connectHandler(so -> so.end(Buffer.buffer("ok")));
        await(server.listen());
        try {
            KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
            trust.load(null, null);
            int i = 0;
            for (X509Certificate root : Pem.certificates(roots)) {
                trust.setCertificateEntry("root-" + i++, root);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            SSLContext tlsContext = SSLContext.getInstance("TLSv1.3");
            tlsContext.init(null, tmf.getTrustManagers(), null);
            for (String host : new String[] {"policy.istio-system.svc", "ca.istio-system.svc"}) {
                try (Socket plain = new Socket("127.0.0.1", server.actualPort());
                        SSLSocket socket = (SSLSocket) tlsContext.getSocketFactory().createSocket(plain, host,
                                server.actualPort(), true)) {
                    SSLParameters params = socket.getSSLParameters();
                    params.setEndpointIdentificationAlgorithm("HTTPS");
                    socket.setSSLParameters(params);
                    if (host.startsWith("policy")) {
                        socket.startHandshake();
                        assertThat(new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8))
                                .isEqualTo("ok");
                    } else {
                        assertThatThrownBy(socket::startHandshake).as("not a name of policy's")
                                .isInstanceOf(SSLHandshakeException.class);
                    }
                }
            }
        } finally {
            await(server.close());
        }
    }

    static String entry(Secret s, String key) {
        return new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8);
    }

    @Test
    void aNodeWhoseTokenIsBoundToAPodElsewhereIsRefusedTheWorkload() {
        assertThatThrownBy(() -> await(client.createCertificate(nodeB, TestCsrs.forIdentity(SLEEP).pem(), DAY, SLEEP)))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED);
                    assertThat(e.statusMessage()).contains("node-b");
                });
    }

    @Test
    void unknownTokensAreUnauthenticatedAndAFailingApiServerIsUnavailable() throws Exception {
        assertThatThrownBy(() -> await(client.createCertificate("forged", TestCsrs.forIdentity(SLEEP).pem(), DAY,
                SLEEP))).cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.UNAUTHENTICATED);
                    assertThat(e.statusMessage()).contains("invalid bearer token");
                });
        String fresh = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-a2", "uid-a2", "node-a",
                Instant.now().plus(Duration.ofHours(1)));
        double before = ca.metric("ca_certificates_refused_total", "reason", "authentication_unavailable");
        k8s.reviewStatus(500);
        assertThatThrownBy(() -> await(client.createCertificate(fresh, TestCsrs.forIdentity(SLEEP).pem(), DAY, SLEEP)))
                .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).as("retryable").isEqualTo(GrpcStatus.UNAVAILABLE);
                    assertThat(e.statusMessage()).contains("TokenReview failed: 500");
                });
        assertThat(ca.metric("ca_certificates_refused_total", "reason", "authentication_unavailable"))
                .isEqualTo(before + 1);
        k8s.reviewStatus(200);
        assertThat(await(client.createCertificate(fresh, TestCsrs.forIdentity(SLEEP).pem(), DAY, SLEEP))
                .getCertChainCount()).isEqualTo(2);
    }

    @Test
    void policyReviewsZtunnelTokensWithItsOwnServiceAccountToken() throws Exception {
        String policy = k8s.serviceAccountToken(NS, "policy", "istio-ca", "policy-0", "uid-p", "node-a",
                Instant.now().plus(Duration.ofHours(1)));
        TokenReviewResponse r = await(client.review(policy, nodeB));
        assertThat(r.getAuthenticated()).isTrue();
        assertThat(r.getNode()).isEqualTo("node-b");
        assertThatThrownBy(() -> await(client.review(nodeA, nodeB))).cause()
                .isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED));
        assertThat(ca.metric("ca_token_reviews_total", "result", "authenticated")).isPositive();
    }

    @Test
    void aReplicaWithAnEmptyStateDirectoryServesUnderTheSameRoot() throws Exception {
        CaServerExtension second = caReplica();
        second.start();
        try (CaClient c2 = second.client(vertx)) {
            assertThat(second.stateDir()).isNotEqualTo(ca.stateDir());
            assertThat(second.rootsPem()).isEqualTo(ca.rootsPem());
            var resp = await(c2.createCertificate(nodeA, TestCsrs.forIdentity(SLEEP).pem(), DAY, SLEEP));
            Pem.certificate(resp.getCertChain(0)).verify(Pem.certificate(secretKey(StateDirectory.CA_CERT))
                    .getPublicKey());
        } finally {
            second.stop();
        }
    }
}
