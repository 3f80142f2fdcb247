package io.jmesh.ztunnel.capture;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The other family's capture listener is optional: a node with that family switched off cannot bind it (here a real
 * bind to an address this host does not have fails as binding {@code ::1} fails with IPv6 disabled), and ztunnel
 * starts anyway; a bind that works is passed through.
 */
class OtherFamilyListenersTest {

    static Vertx vertx;

    @BeforeAll
    static void start() {
        vertx = ServiceLauncher.newVertx(1);
    }

    @AfterAll
    static void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static Future<Object> bind(String host) {
        Promise<Object> p = Promise.promise();
        NetTransport.of(vertx).server().childHandler(new ChannelInboundHandlerAdapter())
                .bind(new InetSocketAddress(host, 0)).addListener(f -> {
                    if (f.isSuccess()) {
                        ((io.netty.channel.ChannelFuture) f).channel().close();
                        p.complete("bound");
                    } else {
                        p.fail(f.cause());
                    }
                });
        return p.future();
    }

    @Test
    void aBindThatFailsIsLoggedAndIgnoredOneThatWorksIsKept() throws Exception {
        Future<Object> failing = bind("192.0.2.1"); // TEST-NET-1: on no interface of this host
        assertThat(failing.toCompletionStage().toCompletableFuture().handle((v, e) -> e).get(10, TimeUnit.SECONDS))
                .as("the bind itself fails").isNotNull();
        assertThat(OtherFamilyListeners.optional(bind("192.0.2.1")).toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS)).isNull();
        assertThat(OtherFamilyListeners.optional(bind("127.0.0.1")).toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS)).isEqualTo("bound");
    }
}
