package io.jmesh.waypoint;

import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.vertx.core.Future;

/** Wires waypoint-mgr together. */
public final class WaypointManagerBootstrap implements MeshService {

    private final WaypointManagerConfig config;
    private final ServiceContext context;

    public WaypointManagerBootstrap(WaypointManagerConfig config, ServiceContext context) {
        this.config = config;
        this.context = context;
    }

    @Override
    public Future<Void> start() {
        context.readiness().register("started").complete();
        return Future.succeededFuture();
    }

    @Override
    public Future<Void> close() {
        return Future.succeededFuture();
    }

    WaypointManagerConfig config() {
        return config;
    }
}
