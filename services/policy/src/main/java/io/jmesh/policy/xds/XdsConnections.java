package io.jmesh.policy.xds;

import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.grpc.ServerConnections;
import io.jmesh.policy.PolicyConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;

/**
 * What policy's gRPC port does with each connection it accepts ({@link ServerConnections}, as istiod's keepalive
 * options): PINGs as {@code xds.keepalive*} say, and a GOAWAY at {@code xds.maxConnectionAge}.
 */
public final class XdsConnections {

    private XdsConnections() {
    }

    /** Registers {@code policy_grpc_keepalive_timeouts_total} in {@code metrics}. */
    public static ServerConnections handler(Vertx vertx, PolicyConfig.Xds xds, PrometheusRegistry metrics) {
        return new ServerConnections(vertx, xds.keepalive(), Http2Liveness.counter(metrics, "policy"),
                xds.maxConnectionAge(), xds.maxConnectionAgeGrace());
    }
}
