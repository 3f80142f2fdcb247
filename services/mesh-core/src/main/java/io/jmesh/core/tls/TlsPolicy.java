package io.jmesh.core.tls;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mesh's TLS rules, in one place: TLS 1.3 only, AES-GCM only (as Istio's HBONE), ALPN {@code h2}.
 *
 * <p>BoringSSL (netty-tcnative) is preferred for speed; when it cannot load, the JDK provider is used and a
 * warning says so once.
 */
public final class TlsPolicy {

    public static final String PROTOCOL = "TLSv1.3";
    public static final List<String> PROTOCOLS = List.of(PROTOCOL);
    /** IANA names; both the JDK and BoringSSL accept them for TLS 1.3. */
    public static final List<String> CIPHER_SUITES = List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384");
    public static final String ALPN_H2 = "h2";

    private static final Logger log = LoggerFactory.getLogger(TlsPolicy.class);
    private static volatile SslProvider provider;

    private TlsPolicy() {}

    /**
     * The mesh's rules on a Vert.x server's or client's TLS options: TLS 1.3 only, AES-GCM only, and the engine of
     * {@link #provider()} (Vert.x's default is the JDK's, whose ALPN support makes Netty load the whole Bouncy Castle
     * provider, when it is on the class path, on the event loop of the first connection).
     */
    public static <T extends io.vertx.core.net.TCPSSLOptions> T apply(T options) {
        options.setEnabledSecureTransportProtocols(new java.util.HashSet<>(PROTOCOLS));
        CIPHER_SUITES.forEach(options::addEnabledCipherSuite);
        options.setSslEngineOptions(provider() == SslProvider.OPENSSL ? new io.vertx.core.net.OpenSSLEngineOptions()
                : new io.vertx.core.net.JdkSSLEngineOptions());
        return options;
    }

    /** The same rules on options that update a running server's or client's TLS (new connections). */
    public static <T extends io.vertx.core.net.SSLOptions> T apply(T ssl) {
        ssl.setEnabledSecureTransportProtocols(new java.util.HashSet<>(PROTOCOLS));
        CIPHER_SUITES.forEach(ssl::addEnabledCipherSuite);
        return ssl;
    }

    /** The fastest available provider: OpenSSL (BoringSSL) if it loads, else the JDK. */
    public static SslProvider provider() {
        SslProvider p = provider;
        if (p == null) {
            synchronized (TlsPolicy.class) {
                p = provider;
                if (p == null) {
                    if (OpenSsl.isAvailable() && SslProvider.isTlsv13Supported(SslProvider.OPENSSL)) {
                        p = SslProvider.OPENSSL;
                        log.atInfo().addKeyValue("version", OpenSsl.versionString())
                                .log("tls provider: BoringSSL via netty-tcnative");
                    } else {
                        p = SslProvider.JDK;
                        Throwable cause = OpenSsl.unavailabilityCause();
                        log.atWarn().addKeyValue("cause", cause == null ? "TLSv1.3 unsupported by the native library" : cause.toString())
                                .log("tls provider: BoringSSL unavailable, falling back to the JDK (slower)");
                    }
                    provider = p;
                }
            }
        }
        return p;
    }
}
