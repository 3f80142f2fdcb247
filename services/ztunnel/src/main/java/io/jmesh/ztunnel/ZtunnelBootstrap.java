package io.jmesh.ztunnel;

import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.vertx.core.Future;

/** Wires ztunnel together. */
public final class ZtunnelBootstrap implements MeshService {

    private final ZtunnelConfig config;
    private final ServiceContext context;

    public ZtunnelBootstrap(ZtunnelConfig config, ServiceContext context) {
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

    ZtunnelConfig config() {
        return config;
    }
}
