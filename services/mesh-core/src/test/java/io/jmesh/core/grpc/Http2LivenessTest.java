package io.jmesh.core.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollSocketChannelConfig;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.impl.ConnectionBase;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The PINGs over a real HTTP/2 connection on loopback: answered PINGs keep it, and a connection that closes
 * (either end) takes its timers with it, without being counted as a timeout. {@code DiscoveryLivenessTest}
 * (ztunnel), {@code XdsConnectionsTest} (policy) and {@code KeepaliveTest} (ca) cover the silent peer.
 */
@Timeout(30)
class Http2LivenessTest {

    Vertx vertx;
    HttpServer server;
    Counter timeouts;
    Http2Liveness liveness;
    HttpClientAgent client;
    final AtomicReference<HttpConnection> serverSide = new AtomicReference<>();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .connectionHandler(serverSide::set).requestHandler(r -> r.response().end("ok"))
                .listen().await(10, TimeUnit.SECONDS);
        timeouts = Http2Liveness.counter(new PrometheusRegistry(), "test");
        liveness = new Http2Liveness(vertx, new Http2Liveness.Settings(Duration.ofMillis(50), Duration.ofSeconds(5)),
                "server", timeouts);
        client = Http2Liveness.client(vertx, new HttpClientOptions(), liveness);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    void get() throws Exception {
        String body = client.request(HttpMethod.GET, server.actualPort(), "127.0.0.1", "/")
                .compose(req -> req.send().compose(resp -> {
                    assertThat(resp.version()).isEqualTo(HttpVersion.HTTP_2);
                    return resp.body();
                })).await(10, TimeUnit.SECONDS).toString();
        assertThat(body).isEqualTo("ok");
    }

    @Test
    void aConnectionClosedByEitherEndIsNoLongerWatchedNorCountedAsATimeout() throws Exception {
        get();
        assertThat(liveness.watched()).isEqualTo(1);
        Thread.sleep(300); // several PINGs, answered
        get();
        assertThat(liveness.watched()).as("the same connection, kept").isEqualTo(1);

        serverSide.get().close();
        await().atMost(Duration.ofSeconds(10)).until(() -> liveness.watched() == 0);
        get();
        assertThat(liveness.watched()).isEqualTo(1);
        client.close().await(10, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> liveness.watched() == 0);
        assertThat(timeouts.labelValues("server").get()).isZero();
    }

    /**
     * A connection error (its streams fail with it and say so) is not logged by Vert.x as an ERROR line holding only
     * the exception's message, which is often none ("{@code <missing-log-message>}"): the watch logs it at debug,
     * naming the exception, on the client's connections and on those a server hands to {@link ServerConnections}.
     */
    @Test
    void aConnectionErrorIsADebugLineNamingItNotAnEmptyErrorLine() throws Exception {
        ch.qos.logback.classic.Logger vertxLog = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger(ConnectionBase.class);
        ch.qos.logback.classic.Logger ours = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger(Http2Liveness.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines =
                new ch.qos.logback.core.read.ListAppender<>();
        lines.start();
        ch.qos.logback.classic.Level before = ours.getLevel();
        ours.setLevel(ch.qos.logback.classic.Level.DEBUG);
        vertxLog.addAppender(lines);
        ours.addAppender(lines);
        try {
            HttpConnection client = clientConnection();
            HttpConnection server = serverConnection();
            // what Netty's HTTP/2 handler reports for a broken connection; this one carries no message
            ((ConnectionBase) client).fail(new io.netty.handler.codec.http2.Http2Exception(
                    io.netty.handler.codec.http2.Http2Error.INTERNAL_ERROR));
            ((ConnectionBase) server).fail(new io.netty.handler.codec.http2.Http2Exception(
                    io.netty.handler.codec.http2.Http2Error.INTERNAL_ERROR));
            await().atMost(Duration.ofSeconds(10)).until(() -> lines.list.stream()
                    .filter(e -> e.getFormattedMessage().contains("Http2Exception")).count() == 2);
            assertThat(lines.list).noneMatch(e -> e.getLevel() == ch.qos.logback.classic.Level.ERROR);
            assertThat(lines.list).filteredOn(e -> e.getFormattedMessage().contains("Http2Exception"))
                    .allMatch(e -> e.getLevel() == ch.qos.logback.classic.Level.DEBUG);
        } finally {
            vertxLog.detachAppender(lines);
            ours.detachAppender(lines);
            ours.setLevel(before);
        }
    }

    HttpConnection clientConnection() throws Exception {
        return client.request(HttpMethod.GET, server.actualPort(), "127.0.0.1", "/")
                .compose(req -> req.send().map(resp -> req.connection())).await(10, TimeUnit.SECONDS);
    }

    /** The server side of the client's connection, handed to {@link ServerConnections} as ca's and policy's are. */
    HttpConnection serverConnection() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(() -> serverSide.get() != null);
        HttpConnection c = serverSide.get();
        new ServerConnections(vertx, new Http2Liveness.Settings(Duration.ofSeconds(30), Duration.ofSeconds(10)),
                timeouts, Duration.ofHours(1), Duration.ofSeconds(10)).handle(c);
        return c;
    }

    @Test
    void aClientSocketProbesAfterIstiosKeepaliveTimingsNotTheKernelsTwoHours() throws Exception {
        Assumptions.assumeTrue(Epoll.isAvailable(), "native epoll transport unavailable: " + Epoll.unavailabilityCause());
        Vertx epoll = Vertx.builder().with(new VertxOptions().setPreferNativeTransport(true)).build();
        try {
            HttpClientAgent nativeClient = Http2Liveness.client(epoll, new HttpClientOptions(), liveness);
            HttpConnection connection = nativeClient.request(HttpMethod.GET, server.actualPort(), "127.0.0.1", "/")
                    .compose(req -> req.send().map(resp -> req.connection())).await(10, TimeUnit.SECONDS);
            ChannelConfig socket = ((ConnectionBase) connection).channel().config();
            assertThat(socket).isInstanceOf(EpollSocketChannelConfig.class);
            assertThat(socket.getOption(ChannelOption.SO_KEEPALIVE)).isTrue();
            assertThat(socket.getOption(EpollChannelOption.TCP_KEEPIDLE)).as("TCP_KEEPIDLE").isEqualTo(300);
            assertThat(socket.getOption(EpollChannelOption.TCP_KEEPINTVL)).as("TCP_KEEPINTVL").isEqualTo(75);
            assertThat(socket.getOption(EpollChannelOption.TCP_KEEPCNT)).as("TCP_KEEPCNT").isEqualTo(9);
        } finally {
            epoll.close().await(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void settingsRefuseANonPositiveIntervalOrTimeoutNamingTheField() {
        assertThatThrownBy(() -> Http2Liveness.Settings.of("a.interval", Duration.ZERO, "a.timeout",
                Duration.ofSeconds(1))).hasMessage("a.interval: PT0S (expected: > 0)");
        assertThatThrownBy(() -> Http2Liveness.Settings.of("a.interval", Duration.ofSeconds(1), "a.timeout",
                Duration.ofSeconds(-1))).hasMessage("a.timeout: PT-1S (expected: > 0)");
    }
}
