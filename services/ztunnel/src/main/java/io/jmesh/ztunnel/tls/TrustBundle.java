package io.jmesh.ztunnel.tls;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mesh's current {@link TrustSnapshot} (roots and CRL serials). Handshakes read it on every verification, so a
 * new bundle applies to the next handshake without rebuilding TLS contexts. An immutable snapshot behind an atomic
 * reference; listeners hear about every swap (after it) on the swapping thread and must hand off.
 */
public final class TrustBundle {

    private static final Logger log = LoggerFactory.getLogger(TrustBundle.class);

    private final AtomicReference<TrustSnapshot> current = new AtomicReference<>(TrustSnapshot.EMPTY);
    private final List<Consumer<TrustSnapshot>> listeners = new CopyOnWriteArrayList<>();
    private volatile PeerRejections rejections = PeerRejections.NONE;

    public TrustBundle() {}

    public TrustBundle(List<X509Certificate> initial) {
        current.set(TrustSnapshot.ofRoots(initial, "file"));
    }

    public TrustSnapshot snapshot() {
        return current.get();
    }

    public List<X509Certificate> roots() {
        return current.get().roots();
    }

    /** Swaps in {@code next} and tells the listeners. */
    public void install(TrustSnapshot next) {
        current.set(next);
        for (Consumer<TrustSnapshot> l : listeners) {
            try {
                l.accept(next);
            } catch (RuntimeException e) {
                log.atWarn().setCause(e).log("trust bundle listener failed");
            }
        }
    }

    /** Replaces the roots only (no CRL). */
    public void replace(List<X509Certificate> next) {
        install(TrustSnapshot.ofRoots(next, "replaced"));
    }

    /** Adopts {@code fromCa} only when no roots are known yet (a configured or watched bundle wins). */
    public void adoptIfEmpty(List<X509Certificate> fromCa) {
        TrustSnapshot adopted = TrustSnapshot.ofRoots(fromCa, "ca-response");
        TrustSnapshot now;
        do {
            now = current.get();
            if (!now.roots().isEmpty()) {
                return;
            }
        } while (!current.compareAndSet(now, adopted));
        listeners.forEach(l -> l.accept(adopted));
    }

    /** Registers a listener for future snapshots. */
    public void onChange(Consumer<TrustSnapshot> listener) {
        listeners.add(listener);
    }

    /** Where refused peer certificates are counted (set once by the bootstrap). */
    public void rejections(PeerRejections r) {
        this.rejections = r;
    }

    PeerRejections rejections() {
        return rejections;
    }

    /** Counts refused peer chains; {@code direction} is {@code inbound} (client certs) or {@code outbound}. */
    @FunctionalInterface
    public interface PeerRejections {
        PeerRejections NONE = (direction, reason) -> {};

        void rejected(String direction, String reason);
    }
}
