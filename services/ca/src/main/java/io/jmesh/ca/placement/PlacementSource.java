package io.jmesh.ca.placement;

import java.util.concurrent.CompletionStage;

/**
 * Where the CA learns which workloads run on which node, to decide whether a node's ztunnel may obtain a
 * certificate for an identity ({@code ImpersonatedIdentity}). Production: {@link ConfigLogPlacement}; a
 * deployment without impersonation: {@link NoPlacement}.
 *
 * <p>Thread-safe: {@link #current()} is a lock-free read of an immutable snapshot.
 */
public interface PlacementSource extends AutoCloseable {

    /** The latest placement. */
    Placement current();

    /** Completes once the source holds a complete picture (e.g. the config log has been replayed). */
    CompletionStage<?> ready();

    /** For messages: where placement comes from. */
    String describe();

    @Override
    default void close() {}
}
