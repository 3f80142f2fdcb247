package io.jmesh.ztunnel.tls;

import io.jmesh.core.tls.TlsPolicy;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLException;

/**
 * Builds HBONE TLS contexts: TLS 1.3 only, AES-GCM suites, ALPN {@code h2}, client certificate required,
 * BoringSSL when it loads (else the JDK, with a warning from {@link TlsPolicy#provider()}). Session resumption
 * is off on the client as in Istio (every tunnel connection proves its identity), and no SNI is sent (the
 * handler is created without a peer host).
 */
public final class HboneTls {

    private static final ApplicationProtocolConfig ALPN = new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN, // ALPN h2 is enforced after the handshake (BoringSSL cannot fail it)
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            TlsPolicy.ALPN_H2);

    private HboneTls() {}

    /** Server side of 15008 for one local identity: requires and verifies a client certificate. */
    public static SslContext server(PrivateKey key, List<X509Certificate> chain, TrustBundle trust,
            String trustDomain) throws SSLException {
        return SslContextBuilder.forServer(key, chain)
                .sslProvider(provider())
                .protocols(TlsPolicy.PROTOCOLS)
                .ciphers(TlsPolicy.CIPHER_SUITES)
                .applicationProtocolConfig(ALPN)
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(new MeshTrustManager(trust, trustDomain))
                .sessionCacheSize(1)
                .build();
    }

    /** Client side for one local identity; the destination identity is checked after the handshake. */
    public static SslContext client(PrivateKey key, List<X509Certificate> chain, TrustBundle trust)
            throws SSLException {
        return SslContextBuilder.forClient()
                .sslProvider(provider())
                .keyManager(key, chain)
                .protocols(TlsPolicy.PROTOCOLS)
                .ciphers(TlsPolicy.CIPHER_SUITES)
                .applicationProtocolConfig(ALPN)
                .trustManager(new MeshTrustManager(trust, null))
                .endpointIdentificationAlgorithm(null)
                .sessionCacheSize(1)
                .build();
    }

    static SslProvider provider() {
        return TlsPolicy.provider();
    }
}
