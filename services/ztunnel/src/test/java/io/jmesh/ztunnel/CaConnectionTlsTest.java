package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.tls.Pem;
import io.jmesh.core.tls.TlsPolicy;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.netty.handler.ssl.SslProvider;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.JdkSSLEngineOptions;
import io.vertx.core.net.PemKeyCertOptions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;

/**
 * ztunnel's connection to ca verifies ca's certificate, host name included, against identity.rootCertFile (and the
 * trust bundle), on BoringSSL and on the JDK's engine alike, and speaks TLS 1.3.
 */
@Timeout(60)
class CaConnectionTlsTest {

    private Vertx vertx;
    private TestCa.Issued root;
    private HttpServer server;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        root = TestCa.root("ca root");
    }

    @AfterEach
    void tearDown() {
        vertx.close().await();
    }

    @ParameterizedTest
    @ValueSource(strings = {"boringssl", "jdk"})
    void caIsTrustedOnlyUnderTheConfiguredRootsAndForItsOwnAddress(String engine) throws Exception {
        Assumptions.assumeTrue(engine.equals("jdk") || TlsPolicy.provider() == SslProvider.OPENSSL,
                "BoringSSL (netty-tcnative) does not load here");
        String ca = "spiffe://cluster.local/ns/istio-system/sa/ca";
        // the right root, the right address: served
        serve(TestCa.serverLeaf(root, "127.0.0.1", ca));
        assertThat(get(engine)).isEqualTo("TLSv1.3");
        server.close().await();
        // the right root, another address's certificate: refused
        serve(TestCa.serverLeaf(root, "127.0.0.2", ca));
        assertThatThrownBy(() -> get(engine)).as("a certificate for 127.0.0.2 presented at 127.0.0.1")
                .hasStackTraceContaining("127.0.0.1");
        server.close().await();
        // the right address under another root: refused
        serve(TestCa.serverLeaf(TestCa.root("someone else"), "127.0.0.1", ca));
        assertThatThrownBy(() -> get(engine)).as("a certificate under a root ztunnel does not trust").isNotNull();
    }

    private void serve(TestCa.Issued leaf) throws Exception {
        PemKeyCertOptions cert = new PemKeyCertOptions().setCertValue(Buffer.buffer(Pem.encode(leaf.cert())))
                .setKeyValue(Buffer.buffer(Pem.encodePrivateKey(leaf.keys().getPrivate())));
        server = vertx.createHttpServer(TlsPolicy.apply(new HttpServerOptions().setHost("127.0.0.1").setPort(0)
                .setSsl(true).setUseAlpn(true).setKeyCertOptions(cert)))
                .requestHandler(req -> req.response().end(req.connection().sslSession().getProtocol()))
                .listen().await(10, TimeUnit.SECONDS);
    }

    /** One request over ztunnel's options for ca; the TLS version the server saw. */
    private String get(String engine) throws Exception {
        HttpClientOptions options = ZtunnelBootstrap.caGrpcOptions(List.of(root.cert()), new TrustBundle(List.of()))
                .setProtocolVersion(HttpVersion.HTTP_2);
        if (engine.equals("jdk")) {
            options.setSslEngineOptions(new JdkSSLEngineOptions());
        }
        HttpClient client = vertx.createHttpClient(options);
        try {
            return client.request(HttpMethod.GET, server.actualPort(), "127.0.0.1", "/")
                    .compose(r -> r.send().compose(res -> res.body())).await(10, TimeUnit.SECONDS).toString();
        } finally {
            client.close().await();
        }
    }
}
