package io.jmesh.ztunnel.tls;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The mesh's current trust roots. Handshakes read it on every verification, so a rotated bundle applies to the
 * next handshake without rebuilding TLS contexts. Immutable list behind an atomic reference.
 */
public final class TrustBundle {

    private final AtomicReference<List<X509Certificate>> roots = new AtomicReference<>(List.of());

    public TrustBundle() {}

    public TrustBundle(List<X509Certificate> initial) {
        roots.set(List.copyOf(initial));
    }

    public List<X509Certificate> roots() {
        return roots.get();
    }

    public void replace(List<X509Certificate> next) {
        roots.set(List.copyOf(next));
    }

    /** Adopts {@code fromCa} only when no roots are configured (a configured bundle wins over the CA's answer). */
    public void adoptIfEmpty(List<X509Certificate> fromCa) {
        roots.compareAndSet(List.of(), List.copyOf(fromCa));
    }
}
