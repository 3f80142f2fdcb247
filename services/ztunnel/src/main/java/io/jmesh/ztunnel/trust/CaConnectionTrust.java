package io.jmesh.ztunnel.trust;

import io.jmesh.ztunnel.tls.TrustBundle;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import java.net.Socket;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Trust for ztunnel's own connections to ca: the configured {@code identity.rootCertFile} roots plus every root of
 * the current trust bundle, so after a root rotation (ca's serving certificate then chains to the new root)
 * reconnects still succeed. The PKIX delegate is rebuilt only when the bundle snapshot changes.
 *
 * <p>An {@link X509ExtendedTrustManager}, so that the delegate checks ca's host name against the connection's
 * (the engine's endpoint identification, which Vert.x sets) on any engine. A plain {@link X509TrustManager} gets that
 * check only from a wrapper: the JDK's engine adds one, and for BoringSSL Netty borrows the JDK's through
 * {@code sun.misc.Unsafe}, without which (JDK 24+ by default, {@code -Dio.netty.noUnsafe}) it verifies no name.
 */
public final class CaConnectionTrust extends X509ExtendedTrustManager {

    private record Built(TrustSnapshot snapshot, X509ExtendedTrustManager delegate, X509Certificate[] issuers) {}

    private final List<X509Certificate> configured;
    private final TrustBundle bundle;
    private volatile Built built;

    public CaConnectionTrust(List<X509Certificate> configured, TrustBundle bundle) {
        this.configured = List.copyOf(configured);
        this.bundle = bundle;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        current().delegate().checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        current().delegate().checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        current().delegate().checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("ztunnel's ca client does not accept client certificates");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        try {
            return current().issuers().clone();
        } catch (CertificateException e) {
            return new X509Certificate[0];
        }
    }

    private Built current() throws CertificateException {
        TrustSnapshot s = bundle.snapshot();
        Built b = built;
        if (b != null && b.snapshot() == s) {
            return b;
        }
        Set<X509Certificate> roots = new LinkedHashSet<>(configured);
        roots.addAll(s.roots());
        if (roots.isEmpty()) {
            throw new CertificateException("no roots to verify ca's certificate (identity.rootCertFile is empty and "
                    + "no trust bundle is known)");
        }
        try {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            int i = 0;
            for (X509Certificate r : roots) {
                ks.setCertificateEntry("root-" + i++, r);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            X509ExtendedTrustManager delegate = null;
            for (var tm : tmf.getTrustManagers()) {
                if (tm instanceof X509ExtendedTrustManager x) {
                    delegate = x;
                }
            }
            if (delegate == null) {
                throw new CertificateException("no X509ExtendedTrustManager available");
            }
            b = new Built(s, delegate, new ArrayList<>(roots).toArray(new X509Certificate[0]));
            built = b;
            return b;
        } catch (CertificateException e) {
            throw e;
        } catch (Exception e) {
            throw new CertificateException("cannot build the trust for ca's certificate: " + e.getMessage(), e);
        }
    }
}
