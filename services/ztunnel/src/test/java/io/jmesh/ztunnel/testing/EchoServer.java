package io.jmesh.ztunnel.testing;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP echo application on a workload address: echoes every byte, and half-closes after the client does (so a
 * test sees END_STREAM ↔ FIN carried both ways). Remembers the last client address it saw.
 */
public final class EchoServer {

    private final Vertx vertx;
    private NetServer server;
    public final AtomicInteger connections = new AtomicInteger();
    public volatile String lastRemoteHost;

    public EchoServer(Vertx vertx) {
        this.vertx = vertx;
    }

    public Future<Integer> start(String host) {
        return vertx.createNetServer(new NetServerOptions().setHost(host).setPort(0))
                .connectHandler(so -> {
                    connections.incrementAndGet();
                    lastRemoteHost = so.remoteAddress().host();
                    so.handler(so::write);
                    so.endHandler(v -> so.end());
                }).listen().map(s -> {
                    server = s;
                    return s.actualPort();
                });
    }

    public Future<Void> close() {
        return server == null ? Future.succeededFuture() : server.close();
    }
}
