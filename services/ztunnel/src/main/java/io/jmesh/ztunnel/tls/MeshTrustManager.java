package io.jmesh.ztunnel.tls;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Date;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Verifies a peer's chain against the current {@link TrustBundle} (read at each handshake, so rotation needs no
 * new context) and, on the server side, that the client presents a SPIFFE identity of our trust domain
 * (Istio's rule). Which identity the client side expects is checked after the handshake by
 * {@link PeerIdentity}, because it differs per destination while the context is shared.
 */
final class MeshTrustManager extends X509ExtendedTrustManager {

    private final TrustBundle bundle;
    private final String trustDomain;

    MeshTrustManager(TrustBundle bundle, String trustDomain) {
        this.bundle = bundle;
        this.trustDomain = trustDomain;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain);
        if (trustDomain != null) {
            for (SpiffeId id : Certificates.spiffeIds(chain[0])) {
                if (id.trustDomain().equals(trustDomain)) {
                    return;
                }
            }
            throw new CertificateException("client certificate has no SPIFFE identity in trust domain "
                    + trustDomain + " (has: " + Certificates.uriSans(chain[0]) + ")");
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain);
    }

    private void verify(X509Certificate[] chain) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("peer sent no certificate");
        }
        try {
            Certificates.verifyChain(Arrays.asList(chain), bundle.roots(), new Date());
        } catch (GeneralSecurityException e) {
            throw new CertificateException("peer certificate does not chain to the mesh trust bundle: "
                    + e.getMessage(), e);
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return bundle.roots().toArray(new X509Certificate[0]);
    }
}
