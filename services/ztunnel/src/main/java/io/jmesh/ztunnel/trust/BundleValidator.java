package io.jmesh.ztunnel.trust;

import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Turns a {@code jmesh.ca.v1.TrustBundle} into a {@link TrustSnapshot}, or refuses it with a reason:
 * {@code trust_domain} (another mesh's bundle), {@code no_roots}, {@code bad_root} (not a PEM CA certificate),
 * {@code bad_crl} (not a DER X.509 CRL), {@code crl_signature} (not signed by a CA of this bundle),
 * {@code crl_stale} (past its nextUpdate, or without one).
 *
 * <p>The CRL must verify against one of the bundle's roots, or against an intermediate that itself chains to them
 * (a plug-in CA signs with an intermediate: the bundle carries its chain in {@code crl_issuer_chain_pem}, and
 * ztunnel also knows it from its own certificates' chains). Its serials
 * then apply to every chain under the bundle: serials are random 128-bit numbers, so matching by serial alone
 * also covers certificates issued under the previous root during a rotation, whose issuer name differs from
 * the CRL's. Pure and thread-safe; CPU-bound (one signature check).
 */
public final class BundleValidator {

    private final String trustDomain;

    public BundleValidator(String trustDomain) {
        this.trustDomain = trustDomain;
    }

    /**
     * @param intermediates CA certificates below the roots that may have signed the CRL (checked against the roots)
     * @param now the freshness reference
     */
    public TrustSnapshot validate(TrustBundle b, Collection<X509Certificate> intermediates, Instant now)
            throws BundleRejected {
        if (!trustDomain.equals(b.getTrustDomain())) {
            throw new BundleRejected("trust_domain", "trust bundle version " + b.getVersion() + " is for trust domain '"
                    + b.getTrustDomain() + "' (expected: '" + trustDomain + "')");
        }
        if (b.getRootsPemCount() == 0) {
            throw new BundleRejected("no_roots", "trust bundle version " + b.getVersion() + " has no roots_pem");
        }
        List<X509Certificate> roots = new ArrayList<>();
        for (int i = 0; i < b.getRootsPemCount(); i++) {
            X509Certificate root;
            try {
                List<X509Certificate> parsed = Pem.certificates(b.getRootsPem(i));
                if (parsed.size() != 1) {
                    throw new IllegalArgumentException(parsed.size() + " certificates (expected: 1)");
                }
                root = parsed.get(0);
            } catch (RuntimeException e) {
                throw new BundleRejected("bad_root", "trust bundle version " + b.getVersion() + ": roots_pem[" + i
                        + "] is not one PEM certificate: " + e.getMessage());
            }
            if (root.getBasicConstraints() < 0) {
                throw new BundleRejected("bad_root", "trust bundle version " + b.getVersion() + ": roots_pem[" + i
                        + "] (" + root.getSubjectX500Principal().getName() + ") is not a CA certificate");
            }
            roots.add(root);
        }
        if (b.getCrlDer().isEmpty()) {
            return new TrustSnapshot(b.getVersion(), roots, Set.of(), null, "ca-watch");
        }
        X509CRL crl;
        try {
            crl = (X509CRL) CertificateFactory.getInstance("X.509")
                    .generateCRL(new ByteArrayInputStream(b.getCrlDer().toByteArray()));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new BundleRejected("bad_crl", "trust bundle version " + b.getVersion()
                    + ": crl_der is not a DER X.509 CRL: " + e.getMessage());
        }
        List<X509Certificate> issuerChain = new ArrayList<>();
        for (int i = 0; i < b.getCrlIssuerChainPemCount(); i++) {
            try {
                List<X509Certificate> parsed = Pem.certificates(b.getCrlIssuerChainPem(i));
                if (parsed.size() != 1) {
                    throw new IllegalArgumentException(parsed.size() + " certificates (expected: 1)");
                }
                issuerChain.add(parsed.get(0));
            } catch (RuntimeException e) {
                throw new BundleRejected("bad_crl_issuer", "trust bundle version " + b.getVersion()
                        + ": crl_issuer_chain_pem[" + i + "] is not one PEM certificate: " + e.getMessage());
            }
        }
        X509Certificate signer = signer(crl, roots, issuerChain, intermediates, now);
        if (signer == null) {
            throw new BundleRejected("crl_signature", "trust bundle version " + b.getVersion() + ": the CRL of "
                    + crl.getIssuerX500Principal().getName() + " is not signed by any CA of the bundle ("
                    + roots.size() + " roots, " + intermediates.size() + " known intermediates)");
        }
        Date next = crl.getNextUpdate();
        if (next == null) {
            throw new BundleRejected("crl_stale", "trust bundle version " + b.getVersion()
                    + ": the CRL has no nextUpdate, so its freshness cannot be judged");
        }
        if (next.toInstant().isBefore(now)) {
            throw new BundleRejected("crl_stale", "trust bundle version " + b.getVersion() + ": the CRL's nextUpdate "
                    + next.toInstant() + " is in the past (now " + now + ")");
        }
        Set<BigInteger> revoked = new HashSet<>();
        Set<? extends X509CRLEntry> entries = crl.getRevokedCertificates();
        if (entries != null) {
            for (X509CRLEntry e : entries) {
                revoked.add(e.getSerialNumber());
            }
        }
        return new TrustSnapshot(b.getVersion(), roots, revoked, next.toInstant(), "ca-watch");
    }

    private static X509Certificate signer(X509CRL crl, List<X509Certificate> roots, List<X509Certificate> issuerChain,
            Collection<X509Certificate> intermediates, Instant now) {
        for (X509Certificate root : roots) {
            if (verifies(crl, root)) {
                return root;
            }
        }
        // the chain the CA sent with the CRL: its first certificate signed it and must chain to a root
        if (!issuerChain.isEmpty() && issuerChain.get(0).getBasicConstraints() >= 0
                && verifies(crl, issuerChain.get(0))) {
            try {
                Certificates.verifyChain(issuerChain, roots, Date.from(now));
                return issuerChain.get(0);
            } catch (GeneralSecurityException e) {
                // not under this bundle's roots: fall back to the intermediates known locally
            }
        }
        for (X509Certificate ca : intermediates) {
            if (ca.getBasicConstraints() >= 0 && verifies(crl, ca)) {
                try {
                    Certificates.verifyChain(List.of(ca), roots, Date.from(now));
                    return ca;
                } catch (GeneralSecurityException e) {
                    // signed the CRL but is not under this bundle: keep looking
                }
            }
        }
        return null;
    }

    private static boolean verifies(X509CRL crl, X509Certificate ca) {
        if (!crl.getIssuerX500Principal().equals(ca.getSubjectX500Principal())) {
            return false;
        }
        try {
            crl.verify(ca.getPublicKey());
            return true;
        } catch (GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }
}
