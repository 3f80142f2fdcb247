package io.jmesh.policy.xds;

import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.grpc.MaxConnectionAge;
import io.jmesh.policy.PolicyConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;

/**
 * What policy's gRPC port does with each connection it accepts, as istiod's keepalive options: PINGs that close a
 * connection whose ztunnel went silent ({@code xds.keepalive*}; its streams end and their state is released), and
 * a GOAWAY at {@code xds.maxConnectionAge} so ztunnels spread over the replicas again.
 */
public final class XdsConnections implements Handler<HttpConnection> {

    private final Http2Liveness liveness;
    private final MaxConnectionAge age;

    /** Registers {@code policy_grpc_keepalive_timeouts_total} in {@code metrics}. */
    public XdsConnections(Vertx vertx, PolicyConfig.Xds xds, PrometheusRegistry metrics) {
        this.liveness = new Http2Liveness(vertx, xds.keepalive(), "client", Http2Liveness.counter(metrics, "policy"));
        this.age = new MaxConnectionAge(vertx, xds.maxConnectionAge(), xds.maxConnectionAgeGrace());
    }

    @Override
    public void handle(HttpConnection connection) {
        liveness.watch(connection);
        age.watch(connection);
    }
}
