package io.jmesh.ztunnel.identity;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.ztunnel.tls.TrustBundle;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;

/**
 * The CA's {@code cert_chain} for one CSR, checked before use, in Istio's layout: leaf first, then intermediates, the
 * root(s) in the last element. Istio's ztunnel checks the leaf's identity; this also checks its key, its validity now
 * and that the chain reaches the trust bundle, so that a bad answer never replaces a still-valid certificate.
 *
 * @param chain what the HBONE contexts send: the leaf, then intermediates (no roots)
 */
record CaAnswer(List<X509Certificate> chain) {

    /**
     * Checks {@code pems}, the answer to a CSR for {@code asked} with {@code key}. When {@code trust} holds no roots
     * yet (no bundle file, none watched) the answer's roots are adopted, once they verify the leaf.
     *
     * @throws RejectedCertificate with the reason and what was wrong
     */
    static CaAnswer check(SpiffeId asked, PublicKey key, List<String> pems, TrustBundle trust, Instant now)
            throws RejectedCertificate {
        if (pems.isEmpty()) {
            throw new RejectedCertificate("empty_chain", "ca returned an empty cert_chain");
        }
        List<List<X509Certificate>> elements = new ArrayList<>();
        for (int i = 0; i < pems.size(); i++) {
            try {
                elements.add(Pem.certificates(pems.get(i)));
            } catch (IllegalArgumentException e) {
                throw new RejectedCertificate("malformed", "ca returned cert_chain[" + i + "]: " + e.getMessage());
            }
        }
        X509Certificate leaf = elements.get(0).get(0);
        if (!leaf.getPublicKey().equals(key)) {
            throw new RejectedCertificate("key_mismatch", "ca returned a certificate for another key");
        }
        SpiffeId got = Certificates.spiffeId(leaf);
        if (!asked.equals(got)) {
            throw new RejectedCertificate("identity_mismatch",
                    "ca returned identity " + got + " (expected: " + asked + ")");
        }
        Instant notBefore = leaf.getNotBefore().toInstant();
        Instant notAfter = leaf.getNotAfter().toInstant();
        if (now.isBefore(notBefore)) {
            throw new RejectedCertificate("not_yet_valid",
                    "ca returned a certificate not valid before " + notBefore + " (now: " + now + ")");
        }
        if (!now.isBefore(notAfter)) {
            throw new RejectedCertificate("expired",
                    "ca returned a certificate that expired at " + notAfter + " (now: " + now + ")");
        }
        // an answer of one element is the leaf alone: no roots, and the leaf must never become a trust anchor
        List<X509Certificate> roots = elements.size() > 1 ? elements.get(elements.size() - 1) : List.of();
        List<X509Certificate> chain = new ArrayList<>();
        for (List<X509Certificate> element : elements) {
            for (X509Certificate c : element) {
                if (c == leaf || !roots.contains(c)) {
                    chain.add(c);
                }
            }
        }
        if (trust.roots().isEmpty()) {
            if (roots.isEmpty()) {
                throw new RejectedCertificate("no_roots", "ca returned no roots (cert_chain has 1 element) and there"
                        + " is no trust bundle to verify against");
            }
            verify(chain, roots, now, "its own roots");
            trust.adoptIfEmpty(roots);
        }
        verify(chain, trust.roots(), now, "the trust bundle");
        return new CaAnswer(List.copyOf(chain));
    }

    private static void verify(List<X509Certificate> chain, List<X509Certificate> roots, Instant now, String against)
            throws RejectedCertificate {
        try {
            Certificates.verifyChain(chain, roots, Date.from(now));
        } catch (GeneralSecurityException e) {
            throw new RejectedCertificate("untrusted_chain",
                    "ca returned a chain that does not verify against " + against + ": " + reason(e));
        }
    }

    /** The validator's message and its cause's ("validity check failed: NotAfter: ..."). */
    private static String reason(Throwable e) {
        Throwable cause = e.getCause();
        return cause == null || cause.getMessage() == null || cause.getMessage().equals(e.getMessage())
                ? e.getMessage() : e.getMessage() + ": " + cause.getMessage();
    }
}
