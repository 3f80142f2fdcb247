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
 * Verifies a peer's chain against the current {@link TrustBundle} snapshot (read at each handshake, so rotation
 * needs no new context), refuses a chain in which the CRL lists any certificate (leaf or intermediate) and, on
 * the server side, that the client presents a SPIFFE identity of our trust domain
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
        verify(chain, "inbound");
        if (trustDomain != null) {
            for (SpiffeId id : Certificates.spiffeIds(chain[0])) {
                if (id.trustDomain().equals(trustDomain)) {
                    return;
                }
            }
            bundle.rejections().rejected("inbound", "foreign_trust_domain");
            throw new CertificateException("client certificate has no SPIFFE identity in trust domain "
                    + trustDomain + " (has: " + Certificates.uriSans(chain[0]) + ")");
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain, "outbound");
    }

    private void verify(X509Certificate[] chain, String direction) throws CertificateException {
        if (chain == null || chain.length == 0) {
            bundle.rejections().rejected(direction, "no_certificate");
            throw new CertificateException("peer sent no certificate");
        }
        TrustSnapshot trust = bundle.snapshot(); // one snapshot for the whole check
        try {
            Certificates.verifyChain(Arrays.asList(chain), trust.roots(), new Date());
        } catch (GeneralSecurityException e) {
            bundle.rejections().rejected(direction, "untrusted");
            throw new CertificateException("peer certificate does not chain to the mesh trust bundle: "
                    + e.getMessage(), e);
        }
        X509Certificate revoked = trust.firstRevoked(chain);
        if (revoked != null) {
            bundle.rejections().rejected(direction, "revoked");
            throw new RevokedCertificateException("peer certificate serial " + Certificates.serialHex(revoked)
                    + " (" + describe(revoked) + ") is revoked by the CRL of trust bundle version "
                    + trust.version());
        }
    }

    private static String describe(X509Certificate c) {
        var uris = Certificates.uriSans(c);
        return uris.isEmpty() ? c.getSubjectX500Principal().getName() : String.join(",", uris);
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

    /**
     * No CA names in the CertificateRequest: BoringSSL copies this list into the server context once, when the
     * context is built, and a client's key manager then withholds a certificate whose issuer is missing from it.
     * After a root rotation that would refuse every client already under the new root; without names the client
     * sends its certificate and {@link #checkClientTrusted} judges it against the current bundle.
     */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }
}
