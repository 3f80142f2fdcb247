package io.jmesh.ztunnel.inbound;

import static io.jmesh.ztunnel.testing.SocketEnd.next;
import static io.jmesh.ztunnel.testing.TcpStates.synSent;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * How an inbound tunnel's end reaches the application: END_STREAM (even on the CONNECT itself) is a half-close,
 * RST_STREAM CANCEL an EOF, and RST_STREAM with another code an error, counted as a failed connection, that resets
 * the application's socket so it can tell a cut-off transfer from a complete one, also when it came before the
 * relay was on the stream.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InboundTunnelEndTest {

    private static final String APP_IP = "127.0.184.11";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static RawHboneClient client;
    static ServerSocket app;
    Channel connection;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        app = new ServerSocket();
        app.bind(new InetSocketAddress(APP_IP, 0));
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: app, name: app, namespace: default, serviceAccount: app, addresses: [%s],
                     node: node-r, tunnelProtocol: HBONE}
                """.formatted(APP_IP));
        node = ZtunnelHarness.start(dir, "node-r", setup.localNode("node-r", "127.0.184.1", mesh, null), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
    }

    @AfterEach
    void closeConnection() throws Exception {
        if (connection != null) {
            connection.close().sync();
        }
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        node.close();
        app.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** The application's side of the next tunnel, accepted in the background. */
    static CompletableFuture<Socket> accept() {
        CompletableFuture<Socket> accepted = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                Socket s = app.accept();
                s.setSoTimeout(15_000); // far beyond any end below: a read that times out is a socket left hanging
                accepted.complete(s);
            } catch (Exception e) {
                accepted.completeExceptionally(e);
            }
        });
        t.setDaemon(true);
        t.start();
        return accepted;
    }

    static double closed() {
        return node.metricSum("istio_tcp_connections_closed_total", "reporter=\"destination\"");
    }

    static double failed() {
        return node.metricSum("istio_tcp_connections_failed_total", "reporter=\"destination\"");
    }

    Http2StreamChannel stream(RawHboneClient.Seen seen) throws Exception {
        connection = client.connection(new InetSocketAddress(APP_IP, 15008));
        return RawHboneClient.stream(connection, seen);
    }

    /** A CONNECT whose HEADERS carry END_STREAM: the client sends nothing, so the application reads EOF at once. */
    @Test
    void connectWithEndStreamHalfClosesTheApplication() throws Exception {
        CompletableFuture<Socket> accepted = accept();
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel stream = stream(seen);
        RawHboneClient.headers(stream, RawHboneClient.connect(APP_IP + ":" + app.getLocalPort()), true);
        assertThat(seen.status.get(10, TimeUnit.SECONDS)).isEqualTo(200);
        try (Socket peer = accepted.get(10, TimeUnit.SECONDS)) {
            assertThat(next(peer)).isEqualTo("eof");
            // half-closed only: the application still answers, and its FIN ends the stream
            peer.getOutputStream().write("answer".getBytes());
            peer.shutdownOutput();
            assertThat(seen.end.get(10, TimeUnit.SECONDS)).isEqualTo("eos");
            assertThat(seen.body.toString()).isEqualTo("answer");
        }
    }

    /** RST_STREAM(CANCEL) is the client's EOF: the application reads EOF, and it is no failure. */
    @Test
    void aCancelIsTheClientsEofNotAFailure() throws Exception {
        CompletableFuture<Socket> accepted = accept();
        double closedBefore = closed();
        double failedBefore = failed();
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel stream = stream(seen);
        RawHboneClient.headers(stream, RawHboneClient.connect(APP_IP + ":" + app.getLocalPort()), "x", false);
        assertThat(seen.status.get(10, TimeUnit.SECONDS)).isEqualTo(200);
        try (Socket peer = accepted.get(10, TimeUnit.SECONDS)) {
            assertThat(next(peer)).isEqualTo("read " + (int) 'x');
            RawHboneClient.reset(stream, Http2Error.CANCEL);
            assertThat(next(peer)).isEqualTo("eof");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).isEqualTo(failedBefore);
    }

    /** RST_STREAM with another code is an error (Istio): a failed connection, and the application is reset. */
    @Test
    void aResetWithAnErrorCodeIsAFailureAndResetsTheApplication() throws Exception {
        CompletableFuture<Socket> accepted = accept();
        double closedBefore = closed();
        double failedBefore = failed();
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel stream = stream(seen);
        RawHboneClient.headers(stream, RawHboneClient.connect(APP_IP + ":" + app.getLocalPort()), "x", false);
        assertThat(seen.status.get(10, TimeUnit.SECONDS)).isEqualTo(200);
        try (Socket peer = accepted.get(10, TimeUnit.SECONDS)) {
            assertThat(next(peer)).isEqualTo("read " + (int) 'x');
            RawHboneClient.reset(stream, Http2Error.INTERNAL_ERROR);
            assertThat(next(peer)).isEqualTo("reset");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).as("a tunnel reset with INTERNAL_ERROR is a failed connection")
                .isEqualTo(failedBefore + 1);
    }

    /** The access log's {@code error} values written while {@code run} runs. */
    static List<String> accessErrors(ThrowingRunnable run) throws Exception {
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        try {
            run.run();
        } finally {
            access.detachAppender(lines);
        }
        return lines.list.stream().filter(e -> e.getKeyValuePairs() != null)
                .flatMap(e -> e.getKeyValuePairs().stream()).filter(kv -> kv.key.equals("error"))
                .map(kv -> String.valueOf(kv.value)).toList();
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /**
     * The client resets its CONNECT with PROTOCOL_ERROR while the application connect is still under way, the reset
     * in the same flush as the HEADERS: the stream is closed before it could be answered, and its relay starts on a
     * closed stream. As an error reset during the relay: a failed connection, the reset in the access log, and the
     * application connection (already made) is reset rather than closed with FIN.
     */
    @Test
    void anErrorResetBeforeTheAnswerIsAFailureAndResetsTheApplication() throws Exception {
        CompletableFuture<Socket> accepted = accept();
        double closedBefore = closed();
        double failedBefore = failed();
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel stream = stream(seen);
        List<String> errors = accessErrors(() -> {
            stream.eventLoop().submit(() -> {
                stream.write(new DefaultHttp2HeadersFrame(RawHboneClient.connect(APP_IP + ":" + app.getLocalPort()),
                        false));
                stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
            }).sync();
            try (Socket peer = accepted.get(10, TimeUnit.SECONDS)) {
                assertThat(next(peer)).isEqualTo("reset");
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        });
        assertThat(failed()).as("failed connections").isEqualTo(failedBefore + 1);
        assertThat(errors).contains("stream reset by peer: PROTOCOL_ERROR");
    }

    /**
     * The same reset with DATA before it, both arriving while the application connect is under way (held up for a
     * second: the application's accept queue is full, so the kernel drops the first SYN). The DATA waits in the
     * stream, whose reads are off, and keeps the stream channel open although the stream is reset, so ztunnel goes
     * on to answer and to start the relay on a stream that was reset before it. As an error reset during the relay:
     * the application may get the DATA, then a reset, and the tunnel is a failure.
     */
    @Test
    void anErrorResetBehindDataWaitingForTheRelayIsAFailureAndResetsTheApplication() throws Exception {
        try (ServerSocket slow = new ServerSocket()) {
            slow.bind(new InetSocketAddress(APP_IP, 0), 1);
            // a backlog of 1 queues two connections; the next SYN is dropped until one is accepted
            Socket filler1 = new Socket(APP_IP, slow.getLocalPort());
            Socket filler2 = new Socket(APP_IP, slow.getLocalPort());
            double closedBefore = closed();
            double failedBefore = failed();
            RawHboneClient.Seen seen = new RawHboneClient.Seen();
            Http2StreamChannel stream = stream(seen);
            List<String> errors = accessErrors(() -> {
                RawHboneClient.headers(stream, RawHboneClient.connect(APP_IP + ":" + slow.getLocalPort()), false);
                // the CONNECT is read, its application connect waits for the SYN's retry
                await().atMost(Duration.ofSeconds(10)).until(() -> synSent(APP_IP, slow.getLocalPort()));
                RawHboneClient.data(stream, "x", false);
                RawHboneClient.reset(stream, Http2Error.PROTOCOL_ERROR);
                Thread.sleep(200);
                slow.accept().close();
                slow.accept().close();
                filler1.close();
                filler2.close();
                try (Socket peer = slow.accept()) {
                    peer.setSoTimeout(15_000);
                    String r = next(peer);
                    if (r.equals("read " + (int) 'x')) {
                        r = next(peer);
                    }
                    assertThat(r).isEqualTo("reset");
                }
                await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
            });
            assertThat(failed()).as("failed connections").isEqualTo(failedBefore + 1);
            assertThat(errors).contains("stream reset by peer: PROTOCOL_ERROR");
        }
    }
}
