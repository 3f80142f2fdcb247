package io.jmesh.ca;

import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.vertx.core.Future;

/** Wires ca together. */
public final class CaBootstrap implements MeshService {

    private final CaConfig config;
    private final ServiceContext context;

    public CaBootstrap(CaConfig config, ServiceContext context) {
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

    CaConfig config() {
        return config;
    }
}
