package io.jmesh.ztunnel.tls;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.netty.handler.ssl.SslHandler;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLPeerUnverifiedException;

/** Reads and checks the peer's SPIFFE identity after a handshake. */
public final class PeerIdentity {

    private PeerIdentity() {}

    /** The peer's SPIFFE identities (URI SANs of its leaf), empty when it presented none. */
    public static List<SpiffeId> of(SslHandler ssl) {
        try {
            Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
            if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
                return List.of();
            }
            return Certificates.spiffeIds(leaf);
        } catch (SSLPeerUnverifiedException e) {
            return List.of();
        }
    }

    /** The peer's certificate chain as it sent it (leaf first), empty when it presented none. */
    public static X509Certificate[] chain(SslHandler ssl) {
        try {
            Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
            X509Certificate[] out = new X509Certificate[chain.length];
            for (int i = 0; i < chain.length; i++) {
                if (!(chain[i] instanceof X509Certificate c)) {
                    return new X509Certificate[0];
                }
                out[i] = c;
            }
            return out;
        } catch (SSLPeerUnverifiedException e) {
            return new X509Certificate[0];
        }
    }

    /** True when a handshake failed because the peer's chain holds a revoked certificate. */
    public static boolean revoked(Throwable handshakeFailure) {
        for (Throwable t = handshakeFailure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof RevokedCertificateException) {
                return true;
            }
        }
        return false;
    }

    /** The peer identity in {@code expected}, or null when none of its identities is expected (Istio: any SAN). */
    public static SpiffeId matching(List<SpiffeId> peer, Set<SpiffeId> expected) {
        for (SpiffeId id : peer) {
            if (expected.contains(id)) {
                return id;
            }
        }
        return null;
    }
}
