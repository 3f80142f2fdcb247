package io.jmesh.policy.auth;

import io.jmesh.core.tls.TlsPolicy;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.ClientSSLOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.ServerSSLOptions;

/** gRPC over TLS 1.3 with ALPN h2, the mesh's {@link TlsPolicy}, for servers and clients of this service. */
public final class GrpcTls {

    private GrpcTls() {}

    /** Server options presenting {@code certChainPem}/{@code keyPem}. */
    public static HttpServerOptions server(String host, int port, String certChainPem, String keyPem) {
        HttpServerOptions o = new HttpServerOptions().setHost(host).setPort(port).setSsl(true).setUseAlpn(true)
                .setAlpnVersions(java.util.List.of(HttpVersion.HTTP_2))
                .setKeyCertOptions(keyCert(certChainPem, keyPem));
        return TlsPolicy.apply(o);
    }

    /** What {@link #server} sets, for swapping the certificate of a running server (new connections). */
    public static ServerSSLOptions serverUpdate(String certChainPem, String keyPem) {
        return TlsPolicy.apply(new ServerSSLOptions().setKeyCertOptions(keyCert(certChainPem, keyPem))
                .setUseAlpn(true).setApplicationLayerProtocols(java.util.List.of(HttpVersion.HTTP_2.alpnName())));
    }

    /** Client options that trust {@code rootsPem} and verify the server's name. */
    public static HttpClientOptions client(String rootsPem) {
        HttpClientOptions o = new HttpClientOptions().setSsl(true).setUseAlpn(true)
                .setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false).setVerifyHost(true)
                .setTrustOptions(trust(rootsPem));
        return TlsPolicy.apply(o);
    }

    /** What {@link #client} sets, for swapping the roots of a running client (new connections). */
    public static ClientSSLOptions clientUpdate(String rootsPem) {
        return TlsPolicy.apply(new ClientSSLOptions().setTrustOptions(trust(rootsPem))
                .setHostnameVerificationAlgorithm("HTTPS").setUseAlpn(true)
                .setApplicationLayerProtocols(java.util.List.of(HttpVersion.HTTP_2.alpnName())));
    }

    private static PemKeyCertOptions keyCert(String certChainPem, String keyPem) {
        return new PemKeyCertOptions().setCertValue(Buffer.buffer(certChainPem)).setKeyValue(Buffer.buffer(keyPem));
    }

    private static PemTrustOptions trust(String rootsPem) {
        return new PemTrustOptions().addCertValue(Buffer.buffer(rootsPem));
    }
}
