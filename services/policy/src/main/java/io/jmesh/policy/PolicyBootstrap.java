package io.jmesh.policy;

import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.vertx.core.Future;

/** Wires policy together. */
public final class PolicyBootstrap implements MeshService {

    private final PolicyConfig config;
    private final ServiceContext context;

    public PolicyBootstrap(PolicyConfig config, ServiceContext context) {
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

    PolicyConfig config() {
        return config;
    }
}
