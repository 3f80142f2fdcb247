package io.jmesh.telemetry;

import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.vertx.core.Future;

/** Wires telemetry together. */
public final class TelemetryBootstrap implements MeshService {

    private final TelemetryConfig config;
    private final ServiceContext context;

    public TelemetryBootstrap(TelemetryConfig config, ServiceContext context) {
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

    TelemetryConfig config() {
        return config;
    }
}
