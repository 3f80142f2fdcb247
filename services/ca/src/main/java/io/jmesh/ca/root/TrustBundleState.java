package io.jmesh.ca.root;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import io.jmesh.proto.ca.v1.TrustBundle;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trust bundle every mesh component follows: the trusted roots and the current CRL, under a version that
 * increases with every change and is never reused (it is at least the wall-clock milliseconds of the change, so
 * it also increases across restarts).
 *
 * <p>Thread-safe: writers are serialized, the bundle is swapped whole, listeners run after the swap on the
 * writer's thread and must hand off (e.g. {@code context.runOnContext}).
 */
public final class TrustBundleState {

    private static final Logger log = LoggerFactory.getLogger(TrustBundleState.class);

    private final String trustDomain;
    private final Clock clock;
    private final List<Consumer<TrustBundle>> listeners = new CopyOnWriteArrayList<>();
    private volatile TrustBundle current;

    public TrustBundleState(String trustDomain, Clock clock) {
        this.trustDomain = trustDomain;
        this.clock = clock;
        this.current = TrustBundle.newBuilder().setTrustDomain(trustDomain).build();
    }

    public TrustBundle current() {
        return current;
    }

    /** Replaces the roots; a no-op when they did not change. */
    public void roots(List<String> rootPems) {
        update(b -> b.clearRootsPem().addAllRootsPem(rootPems));
    }

    /**
     * Replaces the CRL ({@code der} empty when nothing is revoked) and the chain of its signer when that is not a
     * root ({@code issuerChainPems}, signer first); a no-op when nothing changed.
     */
    public void crl(byte[] der, Instant nextUpdate, List<String> issuerChainPems) {
        update(b -> {
            b.setCrlDer(ByteString.copyFrom(der));
            b.clearCrlIssuerChainPem().addAllCrlIssuerChainPem(der.length == 0 ? List.of() : issuerChainPems);
            if (der.length == 0 || nextUpdate == null) {
                b.clearCrlNextUpdate();
            } else {
                b.setCrlNextUpdate(Timestamp.newBuilder().setSeconds(nextUpdate.getEpochSecond())
                        .setNanos(nextUpdate.getNano()));
            }
        });
    }

    /** Registers a listener for future bundles; returns a handle that removes it. */
    public Runnable subscribe(Consumer<TrustBundle> listener) {
        Objects.requireNonNull(listener, "listener");
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    public int subscribers() {
        return listeners.size();
    }

    private void update(Consumer<TrustBundle.Builder> change) {
        TrustBundle next;
        synchronized (this) {
            TrustBundle prev = current;
            TrustBundle.Builder b = prev.toBuilder();
            change.accept(b);
            if (b.clone().setVersion(prev.getVersion()).build().equals(prev)) {
                return;
            }
            long version = Math.max(prev.getVersion() + 1, clock.millis());
            next = b.setVersion(version).setTrustDomain(trustDomain).build();
            current = next;
        }
        log.atInfo().addKeyValue("version", next.getVersion()).addKeyValue("roots", next.getRootsPemCount())
                .addKeyValue("crlBytes", next.getCrlDer().size()).log("trust bundle changed");
        for (Consumer<TrustBundle> l : listeners) {
            try {
                l.accept(next);
            } catch (RuntimeException e) {
                log.atWarn().setCause(e).log("trust bundle listener failed");
            }
        }
    }
}
