package io.jmesh.ztunnel.tls;

import io.jmesh.core.tls.TlsPolicy;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.internal.tcnative.SSL;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLEngine;
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

    /**
     * The type of the in-memory key store Netty puts the key and chain in to build its key manager. Its default,
     * PKCS#12, encrypts the key with 10,000 rounds of PBKDF2 and decrypts it again: about 11 ms of CPU per
     * identity (server and client context) here, 57 ms before the JIT, on every certificate issue and rotation.
     * JKS protects it with one cheap pass (1.3 ms per identity); the store never leaves memory, where the key is
     * in the clear anyway.
     */
    private static final String KEY_STORE = "JKS";

    private HboneTls() {}

    /** Server side of 15008 for one local identity: requires and verifies a client certificate. */
    public static SslContext server(PrivateKey key, List<X509Certificate> chain, TrustBundle trust,
            String trustDomain) throws SSLException {
        SslContext ctx = SslContextBuilder.forServer(key, chain)
                .sslProvider(provider())
                .keyStoreType(KEY_STORE)
                .protocols(TlsPolicy.PROTOCOLS)
                .ciphers(TlsPolicy.CIPHER_SUITES)
                .applicationProtocolConfig(ALPN)
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(new MeshTrustManager(trust, trustDomain))
                .sessionCacheSize(1)
                .build();
        noServerSessionCache(ctx);
        return ctx;
    }

    /** Client side for one local identity; the destination identity is checked after the handshake. */
    public static SslContext client(PrivateKey key, List<X509Certificate> chain, TrustBundle trust)
            throws SSLException {
        return SslContextBuilder.forClient()
                .sslProvider(provider())
                .keyStoreType(KEY_STORE)
                .keyManager(key, chain)
                .protocols(TlsPolicy.PROTOCOLS)
                .ciphers(TlsPolicy.CIPHER_SUITES)
                .applicationProtocolConfig(ALPN)
                .trustManager(new MeshTrustManager(trust, null))
                .endpointIdentificationAlgorithm(null)
                .sessionCacheSize(1)
                .build();
    }

    /**
     * A resumed handshake skips the trust manager, where expiry, the trust bundle, revocation and the trust domain
     * are checked: a client whose certificate expired, was revoked or lost its root since could go on with its old
     * session. BoringSSL through Netty issues TLS 1.3 tickets whatever the session cache says (Netty offers no way to
     * turn them off), and peers such as Envoy resume when they can, so a resumed session is not refused but its
     * client chain is verified again, as a full handshake would have ({@link #verifyResumedClient}).
     */
    private static void noServerSessionCache(SslContext ctx) {
        if (ctx.sessionContext() instanceof OpenSslSessionContext openssl) {
            openssl.setSessionCacheEnabled(false); // no stateful cache on the server side at least
        }
    }

    /**
     * After a server handshake: when the session may have been resumed (BoringSSL says whether it was; the JDK's
     * engine does not, so there every session is checked again), verifies the client's chain now as the trust
     * manager of a full handshake does.
     *
     * @throws CertificateException why the chain is refused (untrusted, revoked, foreign trust domain, none)
     */
    public static void verifyResumedClient(SslHandler ssl, TrustBundle trust, String trustDomain)
            throws CertificateException {
        SSLEngine engine = ssl.engine();
        boolean resumed = !(engine instanceof ReferenceCountedOpenSslEngine openssl)
                || SSL.isSessionReused(openssl.sslPointer());
        if (resumed) {
            new MeshTrustManager(trust, trustDomain).checkClientTrusted(PeerIdentity.chain(ssl), "UNKNOWN");
        }
    }

    static SslProvider provider() {
        return TlsPolicy.provider();
    }
}
