package io.jmesh.ztunnel.tls;

import java.math.BigInteger;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * One immutable view of what ztunnel trusts: the roots peers' chains must end in, and the serials of the CRL
 * (already checked: signed by a CA of this bundle, not past its nextUpdate). Handshakes read one snapshot, so a
 * swap never shows half a bundle.
 *
 * @param version the ca's bundle version; 0 for the bootstrap roots (file or the ca's CreateCertificate answer)
 * @param roots trusted roots; several during a root rotation
 * @param revoked serial numbers listed in the CRL; empty when nothing is revoked or no CRL is known
 * @param crlNextUpdate when the CRL goes stale; null without a CRL
 * @param source where the snapshot came from, for logs ({@code file}, {@code ca-response}, {@code ca-watch})
 */
public record TrustSnapshot(long version, List<X509Certificate> roots, Set<BigInteger> revoked, Instant crlNextUpdate,
        String source) {

    public static final TrustSnapshot EMPTY = new TrustSnapshot(0, List.of(), Set.of(), null, "none");

    public TrustSnapshot {
        roots = List.copyOf(roots);
        revoked = Set.copyOf(revoked);
    }

    /** Roots only, no CRL (the bootstrap bundle). */
    public static TrustSnapshot ofRoots(List<X509Certificate> roots, String source) {
        return new TrustSnapshot(0, roots, Set.of(), null, source);
    }

    /** The first certificate of {@code chain} whose serial this snapshot's CRL lists, or null. */
    public X509Certificate firstRevoked(X509Certificate[] chain) {
        if (revoked.isEmpty() || chain == null) {
            return null;
        }
        for (X509Certificate c : chain) {
            if (revoked.contains(c.getSerialNumber())) {
                return c;
            }
        }
        return null;
    }

    /**
     * Whether {@code chain} still ends at one of these roots: its last certificate is a root or was signed by one.
     * Costs a signature check per chain: call it only when roots were removed (a retired root).
     */
    public boolean anchors(X509Certificate[] chain) {
        if (chain == null || chain.length == 0 || roots.isEmpty()) {
            return true; // nothing to judge against
        }
        X509Certificate top = chain[chain.length - 1];
        for (X509Certificate root : roots) {
            if (root.equals(top)) {
                return true;
            }
            if (root.getSubjectX500Principal().equals(top.getIssuerX500Principal())) {
                try {
                    top.verify(root.getPublicKey());
                    return true;
                } catch (java.security.GeneralSecurityException | RuntimeException e) {
                    // same name, another key (roots of a rotation share their subject): keep looking
                }
            }
        }
        return false;
    }

    /** Same, for a chain held as a list. */
    public boolean anchors(List<X509Certificate> chain) {
        return anchors(chain.toArray(new X509Certificate[0]));
    }

    /** Same, for a chain held as a list. */
    public X509Certificate firstRevoked(List<X509Certificate> chain) {
        return firstRevoked(chain.toArray(new X509Certificate[0]));
    }
}
