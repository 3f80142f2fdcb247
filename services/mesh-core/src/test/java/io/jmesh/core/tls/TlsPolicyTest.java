package io.jmesh.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.SslProvider;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.ClientSSLOptions;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.OpenSSLEngineOptions;
import io.vertx.core.net.PemKeyCertOptions;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class TlsPolicyTest {

    private Vertx vertx;
    private PemKeyCertOptions serverCert;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        TestCertificates.Issued root = TestCertificates.root("test root");
        TestCertificates.Issued leaf = TestCertificates.leaf(root, "spiffe://cluster.local/ns/istio-system/sa/ca");
        serverCert = new PemKeyCertOptions().setCertValue(Buffer.buffer(Pem.encode(leaf.cert())))
                .setKeyValue(Buffer.buffer(Pem.encodePrivateKey(leaf.keys().getPrivate())));
    }

    @AfterEach
    void tearDown() {
        vertx.close().await();
    }

    /** Options a client or server gets: TLS 1.3 only, the two AES-GCM suites, BoringSSL when it loads. */
    @Test
    void optionsAreTls13AesGcmOnTheFastestEngine() {
        NetClientOptions client = TlsPolicy.apply(new NetClientOptions());
        assertThat(client.getEnabledSecureTransportProtocols()).containsExactly("TLSv1.3");
        assertThat(client.getEnabledCipherSuites()).containsExactlyInAnyOrderElementsOf(TlsPolicy.CIPHER_SUITES);
        assertThat(client.getSslEngineOptions() instanceof OpenSSLEngineOptions)
                .isEqualTo(TlsPolicy.provider() == SslProvider.OPENSSL);
        ClientSSLOptions update = TlsPolicy.apply(new ClientSSLOptions());
        assertThat(update.getEnabledSecureTransportProtocols()).containsExactly("TLSv1.3");
        assertThat(update.getEnabledCipherSuites()).containsExactlyInAnyOrderElementsOf(TlsPolicy.CIPHER_SUITES);
    }

    /** A client under the policy refuses a server that offers only TLS 1.2, and talks TLS 1.3 with one that may. */
    @Test
    void aClientUnderThePolicyNegotiatesTls13OrNothing() throws Exception {
        NetServer tls12 = listen(new NetServerOptions().setSsl(true).setKeyCertOptions(serverCert)
                .setEnabledSecureTransportProtocols(Set.of("TLSv1.2")), new CompletableFuture<>());
        var client = vertx.createNetClient(TlsPolicy.apply(new NetClientOptions().setSsl(true).setTrustAll(true).setHostnameVerificationAlgorithm("")
                .setConnectTimeout(5_000)));
        assertThatThrownBy(() -> client.connect(tls12.actualPort(), "127.0.0.1").await(10, TimeUnit.SECONDS))
                .as("a handshake with a TLS 1.2-only server").isNotNull();

        CompletableFuture<NetSocket> accepted = new CompletableFuture<>();
        NetServer strict = listen(TlsPolicy.apply(new NetServerOptions().setSsl(true).setKeyCertOptions(serverCert)),
                accepted);
        NetSocket socket = client.connect(strict.actualPort(), "127.0.0.1").await(10, TimeUnit.SECONDS);
        assertThat(socket.sslSession().getProtocol()).isEqualTo("TLSv1.3");
        assertThat(List.of(socket.sslSession().getCipherSuite())).containsAnyElementsOf(TlsPolicy.CIPHER_SUITES);
        assertThat(accepted.get(10, TimeUnit.SECONDS).sslSession().getProtocol()).isEqualTo("TLSv1.3");
        socket.close();
    }

    private NetServer listen(NetServerOptions options, CompletableFuture<NetSocket> accepted) throws Exception {
        return vertx.createNetServer(options.setHost("127.0.0.1").setPort(0)).connectHandler(accepted::complete)
                .listen().await(10, TimeUnit.SECONDS);
    }
}
