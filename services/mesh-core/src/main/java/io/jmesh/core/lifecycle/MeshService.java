package io.jmesh.core.lifecycle;

import io.jmesh.core.admin.AdminServer;
import io.vertx.core.Future;

/**
 * A deployable service as the {@link ServiceLauncher} drives it: start, then on SIGTERM drain until a
 * deadline, then close.
 */
public interface MeshService {

    /** Adds service-specific routes to the admin server before it starts. */
    default void adminRoutes(AdminServer.Builder admin) {}

    /** Starts serving; the launcher marks nothing ready, the service completes its own readiness tasks. */
    Future<Void> start();

    /**
     * Stops accepting new work and completes when in-flight work has finished. The launcher stops waiting at
     * the drain deadline and calls {@link #close()} regardless.
     */
    default Future<Void> drain() {
        return Future.succeededFuture();
    }

    /** Releases everything that is left; called once, after {@link #drain()} or its deadline. */
    Future<Void> close();
}
