package io.jmesh.core.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.testing.fuzz.LeakWatch;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real HTTP/2 connection on loopback whose server sends GOAWAYs with debug data (as a control plane ageing its
 * connections out does): the client hears of each, and nothing Vert.x allocated for it is leaked (the build runs
 * tests with Netty's paranoid leak detector, which tracks every buffer).
 */
@Timeout(60)
class GoAwaysTest {

    Vertx vertx;
    HttpServer server;
    final AtomicReference<HttpConnection> serverSide = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .connectionHandler(serverSide::set).requestHandler(r -> r.response().end("ok"))
                .listen().await(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @Test
    void eachGoAwayReceivedIsToldAndItsDebugDataFreed() throws Exception {
        LeakWatch.reset();
        for (int i = 0; i < 20; i++) {
            HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions()
                    .setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
            CountDownLatch told = new CountDownLatch(1);
            client.request(HttpMethod.GET, server.actualPort(), "127.0.0.1", "/")
                    .compose(req -> {
                        GoAways.onReceived(req.connection(), told::countDown);
                        return req.send().compose(resp -> resp.body());
                    }).await(10, TimeUnit.SECONDS);
            serverSide.get().goAway(0, -1, Buffer.buffer("max connection age " + i));
            assertThat(told.await(10, TimeUnit.SECONDS)).as("GOAWAY #%d told", i).isTrue();
            client.close().await(10, TimeUnit.SECONDS);
        }
        assertThat(LeakWatch.leaks()).as("buffers leaked").isEmpty();
    }
}
