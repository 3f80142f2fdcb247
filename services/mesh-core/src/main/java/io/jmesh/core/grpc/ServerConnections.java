package io.jmesh.core.grpc;

import io.prometheus.metrics.core.metrics.Counter;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import java.time.Duration;

/**
 * What a control-plane gRPC server (policy's discovery port, ca's) does with each connection it accepts, as istiod's
 * keepalive options: PINGs that close a connection whose client went silent (its streams end and their state is
 * released; {@link Http2Liveness}), and a GOAWAY once the connection is {@code maxAge} old, so clients spread over
 * the replicas again ({@link MaxConnectionAge}). One instance serves every event loop of a server.
 */
public final class ServerConnections implements Handler<HttpConnection> {

    private final Http2Liveness liveness;
    private final MaxConnectionAge age;

    /**
     * @param keepaliveTimeouts the counter {@link Http2Liveness#counter} registered (these connections: peer
     *     {@code client})
     */
    public ServerConnections(Vertx vertx, Http2Liveness.Settings keepalive, Counter keepaliveTimeouts,
            Duration maxAge, Duration maxAgeGrace) {
        this.liveness = new Http2Liveness(vertx, keepalive, "client", keepaliveTimeouts);
        this.age = new MaxConnectionAge(vertx, maxAge, maxAgeGrace);
    }

    @Override
    public void handle(HttpConnection connection) {
        liveness.watch(connection);
        age.watch(connection);
    }
}
