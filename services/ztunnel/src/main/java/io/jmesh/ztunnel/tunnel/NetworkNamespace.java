package io.jmesh.ztunnel.tunnel;

import java.util.function.Supplier;

/**
 * A network namespace sockets can be created in. A socket belongs to the namespace of the thread that created it
 * for its whole life, so only the creation has to happen inside; binding, connecting and all I/O then run on the
 * usual event loops.
 */
public interface NetworkNamespace {

    /** Runs {@code create} on the calling thread while it is inside this namespace, then steps back out. */
    <T> T enter(Supplier<T> create);
}
