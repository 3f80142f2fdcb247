package io.jmesh.core.lifecycle;

import io.jmesh.core.admin.Readiness;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;

/**
 * What the launcher hands a service: its Vert.x instance, its own metrics registry, its readiness tasks and the
 * drain signal.
 */
public record ServiceContext(Vertx vertx, PrometheusRegistry metrics, Readiness readiness, DrainSignal drain) {

    /** A fresh context for tests and embedded use. */
    public static ServiceContext create(Vertx vertx) {
        return new ServiceContext(vertx, new PrometheusRegistry(), new Readiness(), new DrainSignal());
    }
}
