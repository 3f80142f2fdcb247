package io.jmesh.ca.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.JdkSSLEngineOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.grpc.client.GrpcClient;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The CA's listener speaks only TLS 1.3 with ALPN h2 and presents its own SPIFFE identity. */
@Timeout(30)
class ServingTlsTest {

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().build();

    private SSLSocket connect(String protocol) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        int i = 0;
        for (X509Certificate root : Pem.certificates(ca.rootsPem())) {
            trust.setCertificateEntry("root" + i++, root);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", ca.port());
        SSLParameters p = s.getSSLParameters();
        p.setProtocols(new String[] {protocol});
        p.setApplicationProtocols(new String[] {"h2"});
        p.setEndpointIdentificationAlgorithm("HTTPS");
        s.setSSLParameters(p);
        s.setSoTimeout(10_000);
        return s;
    }

    @Test
    void presentsTheCaIdentityOverTls13WithH2() throws Exception {
        try (SSLSocket s = connect("TLSv1.3")) {
            s.startHandshake();
            assertThat(s.getSession().getProtocol()).isEqualTo("TLSv1.3");
            assertThat(s.getApplicationProtocol()).isEqualTo("h2");
            assertThat(s.getSession().getCipherSuite()).isIn("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384");
            X509Certificate leaf = (X509Certificate) s.getSession().getPeerCertificates()[0];
            assertThat(Certificates.uriSans(leaf)).containsExactly("spiffe://cluster.local/ns/istio-system/sa/ca");
            Certificates.verifyChain(List.of(leaf), Pem.certificates(ca.rootsPem()), new Date());
        }
    }

    /**
     * BoringSSL cannot take ChaCha20-Poly1305 off TLS 1.3's list, so a client that offers only it gets it
     * negotiated; the listener must then close the connection rather than serve it (AES-GCM only).
     */
    @Test
    void servesNoCallToAClientThatOffersOnlyChaCha20() throws Exception {
        Vertx vertx = Vertx.vertx();
        try {
            GrpcClient client = GrpcClient.client(vertx, new HttpClientOptions().setSsl(true).setUseAlpn(true)
                    .setProtocolVersion(HttpVersion.HTTP_2).setSslEngineOptions(new JdkSSLEngineOptions())
                    .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
                    .addEnabledCipherSuite("TLS_CHACHA20_POLY1305_SHA256")
                    .setTrustOptions(new PemTrustOptions().addCertValue(Buffer.buffer(ca.rootsPem()))));
            IstioCertificateRequest request = IstioCertificateRequest.newBuilder().setValidityDuration(3600)
                    .setCsr(TestCsrs.forIdentity("spiffe://cluster.local/ns/istio-system/sa/ztunnel").pem()).build();
            Future<String> outcome = client.request(ca.address(), IstioCertificateServiceGrpcClient.CreateCertificate)
                    .compose(call -> {
                        call.headers().set("authorization", "Bearer " + ca.nodeToken("node-a"));
                        call.end(request);
                        return call.response();
                    })
                    .compose(resp -> resp.last().map(r -> "status " + resp.status()));
            assertThatThrownBy(() -> outcome.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void refusesTls12() throws Exception {
        try (SSLSocket s = connect("TLSv1.2")) {
            assertThatThrownBy(s::startHandshake).isInstanceOf(javax.net.ssl.SSLException.class);
        }
    }
}
