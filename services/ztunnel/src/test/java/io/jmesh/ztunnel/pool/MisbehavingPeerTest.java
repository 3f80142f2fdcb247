package io.jmesh.ztunnel.pool;

import static io.jmesh.ztunnel.testing.SocketEnd.next;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ztunnel.testing.FakeHboneServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's client side (pool, {@code HboneConnection}, relay) against an HBONE server that resets, ends, dies,
 * freezes or dials slowly on purpose. However a tunnel ends, the application's socket ends with it (EOF for a clean
 * end, a TCP reset for a failed one) and the tunnel is counted closed; a failure is counted as one.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MisbehavingPeerTest {

    static final String CLIENT_IP = "127.0.185.11";
    static final String PEER_IP = "127.0.186.11";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static FakeHboneServer peer;

    /** What the peer does with each new stream. */
    enum Mode {
        /** answers 200, echoes DATA */
        ECHO,
        /** answers 200 and resets the stream (CANCEL) in the same flush */
        ANSWER_THEN_CANCEL,
        /** answers 200 and resets the stream with PROTOCOL_ERROR in the same flush */
        ANSWER_THEN_PROTOCOL_ERROR,
        /** answers 200 with END_STREAM (it has nothing to send), keeps what the client sends */
        ANSWER_WITH_END_STREAM,
        /** answers 200, echoes the first DATA, then resets the stream with CANCEL */
        ECHO_THEN_CANCEL,
        /** answers 200, resets the stream with INTERNAL_ERROR on the first DATA */
        INTERNAL_ERROR_ON_DATA,
        /** answers 200 and sends GOAWAY on the connection, echoes DATA */
        ECHO_AND_GOAWAY,
        /** never answers the CONNECT; counts the resets it receives in {@link #resets} */
        NEVER_ANSWER
    }

    /** RST_STREAM codes the peer received on {@link Mode#NEVER_ANSWER} streams. */
    static final java.util.List<Long> resets = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** CONNECTs the peer received and left unanswered ({@link Mode#NEVER_ANSWER}). */
    static final java.util.concurrent.atomic.AtomicInteger unanswered = new java.util.concurrent.atomic.AtomicInteger();

    static final AtomicReference<Mode> mode = new AtomicReference<>(Mode.ECHO);
    /** What the peer received on an {@link Mode#ANSWER_WITH_END_STREAM} stream, once the client ended it. */
    static volatile CompletableFuture<String> received = new CompletableFuture<>();

    static final class PeerStream extends ChannelInboundHandlerAdapter {
        private final Mode m = mode.get();
        private final StringBuilder body = new StringBuilder();

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.handler.codec.http2.Http2ResetFrame r && m == Mode.NEVER_ANSWER) {
                resets.add(r.errorCode());
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (m == Mode.NEVER_ANSWER) {
                    if (msg instanceof Http2HeadersFrame) {
                        unanswered.incrementAndGet();
                    }
                    return;
                }
                if (msg instanceof Http2HeadersFrame) {
                    ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"),
                            m == Mode.ANSWER_WITH_END_STREAM));
                    if (m == Mode.ANSWER_THEN_CANCEL) {
                        ctx.write(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
                    } else if (m == Mode.ANSWER_THEN_PROTOCOL_ERROR) {
                        ctx.write(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
                    }
                    ctx.flush();
                    if (m == Mode.ECHO_AND_GOAWAY) {
                        ((Http2StreamChannel) ctx.channel()).parent()
                                .writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
                    }
                } else if (msg instanceof Http2DataFrame d) {
                    switch (m) {
                        case ANSWER_WITH_END_STREAM -> {
                            body.append(d.content().toString(StandardCharsets.UTF_8));
                            if (d.isEndStream()) {
                                received.complete(body.toString());
                            }
                        }
                        case INTERNAL_ERROR_ON_DATA ->
                                ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.INTERNAL_ERROR));
                        // the reset once the echo is out: a reset cancels DATA still waiting in the flow controller
                        case ECHO_THEN_CANCEL ->
                                ctx.writeAndFlush(new DefaultHttp2DataFrame(d.content().retain(), false)).addListener(
                                        f -> ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL)));
                        default -> ctx.writeAndFlush(new DefaultHttp2DataFrame(d.content().retain(), d.isEndStream()));
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-a, tunnelProtocol: HBONE}
                  - {uid: peer, name: peer, namespace: default, serviceAccount: peer, addresses: [%s],
                     node: node-f, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, PEER_IP));
        String yaml = setup.localNode("node-a", "127.0.185.1", mesh, "hbone: {pingInterval: 200ms, pingTimeout: 1s}")
                .replace("pool: {idleTimeout: 5m}", "pool: {idleTimeout: 5m, maxStreamsPerConnection: 2}");
        node = ZtunnelHarness.start(dir, "node-a", yaml, null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/peer");
        peer = new FakeHboneServer(new InetSocketAddress(PEER_IP, 15008), cert, PeerStream::new);
    }

    @AfterEach
    void dropPool() throws Exception {
        peer.beforeHandshake = () -> { };
        for (var c : peer.connections) {
            c.close().sync();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> node.ztunnel.pool().openConnections() == 0);
    }

    @AfterAll
    static void stop() throws Exception {
        peer.close();
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static Socket tunnel() throws IOException {
        Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, PEER_IP, 8080);
        s.setSoTimeout(15_000); // far beyond any end below: a read that times out is a socket left hanging
        return s;
    }

    static double openTunnels() {
        return node.metricSum("istio_tcp_sockets_open", "reporter=\"source\"");
    }

    static double closed() {
        return node.metricSum("istio_tcp_connections_closed_total", "reporter=\"source\"");
    }

    static double failed() {
        return node.metricSum("istio_tcp_connections_failed_total", "reporter=\"source\"");
    }

    @Test
    void aWellBehavedPeerEchoes() throws Exception {
        mode.set(Mode.ECHO);
        try (Socket s = tunnel()) {
            s.getOutputStream().write("hi".getBytes());
            assertThat(s.getInputStream().readNBytes(2)).isEqualTo("hi".getBytes());
        }
    }

    /**
     * The peer answers 200 and resets the stream at once. Tunnels whose application socket was accepted on another
     * I/O thread than the HBONE connection's move threads before their relay starts, and the reset lands first: the
     * relay then starts on a closed stream. Several tunnels in a row, so that some of them move (sockets are
     * accepted on the I/O threads in turn).
     */
    @Test
    void aStreamResetRightAfterItsAnswerEndsTheApplicationConnection() throws Exception {
        mode.set(Mode.ANSWER_THEN_CANCEL);
        double before = openTunnels();
        for (int i = 0; i < 8; i++) {
            try (Socket s = tunnel()) {
                s.getOutputStream().write("hi".getBytes());
                assertThat(next(s)).as("tunnel %d", i).isIn("eof", "reset");
            }
        }
        await().atMost(Duration.ofSeconds(10)).alias("every tunnel counted closed")
                .until(() -> openTunnels() == before);
    }

    /**
     * The peer answers 200 and resets the stream with an error code at once, before the relay is on the stream
     * (it may even have to move threads first): as an error reset during the relay, each tunnel is a failure
     * (response_flags CONNECT, the reset in the access log's error) and the application's socket is reset, not
     * closed with FIN. The application sends nothing, so a reset can only come from ztunnel.
     */
    @Test
    void anErrorResetRightAfterTheAnswerIsAFailureAndResetsTheApplication() throws Exception {
        mode.set(Mode.ANSWER_THEN_PROTOCOL_ERROR);
        double closedBefore = closed();
        double failedBefore = failed();
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        int tunnels = 8;
        try {
            for (int i = 0; i < tunnels; i++) {
                try (Socket s = tunnel()) {
                    assertThat(next(s)).as("tunnel %d", i).isEqualTo("reset");
                }
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> closed() >= closedBefore + tunnels);
        } finally {
            access.detachAppender(lines);
        }
        assertThat(failed()).as("failed connections").isEqualTo(failedBefore + tunnels);
        assertThat(node.metricSum("istio_tcp_connections_failed_total", "reporter=\"source\"",
                "response_flags=\"CONNECT\"")).isGreaterThanOrEqualTo(tunnels);
        assertThat(lines.list.stream().filter(e -> e.getKeyValuePairs() != null && e.getKeyValuePairs().stream()
                .anyMatch(kv -> kv.key.equals("error") && "stream reset by peer: PROTOCOL_ERROR".equals(kv.value))))
                .as("access log lines naming the reset").hasSize(tunnels);
    }

    /**
     * A peer that never answers the CONNECT: an application that gives up (resets its connection) takes its stream
     * with it (RST_STREAM CANCEL), so the stream's slot on the pooled connection is free again. Before, the stream
     * stayed open for as long as the HBONE connection lived, and each such tunnel used up one of its streams.
     */
    @Test
    void aConnectNeverAnsweredIsCancelledWhenTheApplicationGivesUp() throws Exception {
        mode.set(Mode.NEVER_ANSWER);
        resets.clear();
        unanswered.set(0);
        double failedBefore = failed();
        for (int i = 0; i < 3; i++) { // more than the two streams a connection may carry here
            Socket s = Socks5Client.request(node.socks(), CLIENT_IP, PEER_IP, 8080);
            int sent = i + 1;
            await().atMost(Duration.ofSeconds(10)).alias("CONNECT #" + sent + " at the peer")
                    .until(() -> unanswered.get() == sent);
            s.setSoLinger(true, 0); // gives up: a reset (a FIN alone only says it will send no more)
            s.close();
        }
        await().atMost(Duration.ofSeconds(10)).alias("the peer saw each stream cancelled")
                .until(() -> resets.size() == 3);
        assertThat(resets).containsOnly(Http2Error.CANCEL.code());
        await().atMost(Duration.ofSeconds(10)).until(() -> failed() == failedBefore + 3);
    }

    /** A 200 with END_STREAM: the peer sends nothing, so the application reads EOF at once and may still send. */
    @Test
    void anAnswerWithEndStreamHalfClosesTheApplication() throws Exception {
        mode.set(Mode.ANSWER_WITH_END_STREAM);
        received = new CompletableFuture<>();
        double closedBefore = closed();
        double failedBefore = failed();
        try (Socket s = tunnel()) {
            assertThat(next(s)).isEqualTo("eof");
            s.getOutputStream().write("still here".getBytes());
            s.shutdownOutput();
            assertThat(received.get(10, TimeUnit.SECONDS)).isEqualTo("still here");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).as("a half-closed tunnel that ended both ways is no failure").isEqualTo(failedBefore);
    }

    /** RST_STREAM(CANCEL) is the peer's EOF: what it sent arrives, then EOF; not a failure. */
    @Test
    void aCancelIsTheEndOfTheAnswerNotAFailure() throws Exception {
        mode.set(Mode.ECHO_THEN_CANCEL);
        double closedBefore = closed();
        double failedBefore = failed();
        try (Socket s = tunnel()) {
            s.getOutputStream().write("hi".getBytes());
            assertThat(s.getInputStream().readNBytes(2)).isEqualTo("hi".getBytes());
            assertThat(next(s)).isEqualTo("eof");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).isEqualTo(failedBefore);
    }

    /** RST_STREAM with another code is an error (Istio): a failed connection, and the application is reset. */
    @Test
    void aResetWithAnErrorCodeIsAFailureAndResetsTheApplication() throws Exception {
        mode.set(Mode.INTERNAL_ERROR_ON_DATA);
        double closedBefore = closed();
        double failedBefore = failed();
        try (Socket s = tunnel()) {
            s.getOutputStream().write("hi".getBytes());
            assertThat(next(s)).isEqualTo("reset");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).as("failed connections").isEqualTo(failedBefore + 1);
    }

    /** The HBONE connection dies (TCP reset) under an open tunnel: a failure, and the application is reset. */
    @Test
    void theConnectionDyingUnderAnOpenTunnelIsAFailureAndResetsTheApplication() throws Exception {
        mode.set(Mode.ECHO);
        double closedBefore = closed();
        double failedBefore = failed();
        try (Socket s = tunnel()) {
            s.getOutputStream().write("hi".getBytes());
            assertThat(s.getInputStream().readNBytes(2)).isEqualTo("hi".getBytes());
            for (var c : peer.connections) {
                c.config().setOption(ChannelOption.SO_LINGER, 0);
                c.close().sync();
            }
            assertThat(next(s)).isEqualTo("reset");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).isEqualTo(failedBefore + 1);
        assertThat(node.ztunnel.pool().openConnections()).isZero();
    }

    /**
     * The peer freezes (no more PING answers) while a tunnel is open: after {@code hbone.pingTimeout} the connection
     * is dropped with its tunnel, which is a failure, instead of waiting for a stream that will never end.
     */
    @Test
    void aFrozenPeerIsDroppedWithItsOpenTunnelAfterThePingTimeout() throws Exception {
        mode.set(Mode.ECHO);
        double closedBefore = closed();
        double failedBefore = failed();
        try (Socket s = tunnel()) {
            s.getOutputStream().write("hi".getBytes());
            assertThat(s.getInputStream().readNBytes(2)).isEqualTo("hi".getBytes());
            for (var c : peer.connections) {
                c.eventLoop().submit(() -> c.config().setAutoRead(false)).sync();
            }
            assertThat(next(s)).isEqualTo("reset");
            assertThat(node.ztunnel.pool().openConnections()).isZero();
        } finally {
            for (var c : peer.connections) {
                c.eventLoop().submit(() -> c.config().setAutoRead(true)).sync();
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> closed() > closedBefore);
        assertThat(failed()).isEqualTo(failedBefore + 1);
    }

    /** A GOAWAY retires the connection: its open tunnel keeps working, a new tunnel dials another connection. */
    @Test
    void aGoAwayRetiresTheConnectionButLetsItsTunnelsFinish() throws Exception {
        mode.set(Mode.ECHO_AND_GOAWAY);
        int acceptedBefore = peer.accepted.get();
        try (Socket first = tunnel()) {
            first.getOutputStream().write("one".getBytes());
            assertThat(first.getInputStream().readNBytes(3)).isEqualTo("one".getBytes());
            await().atMost(Duration.ofSeconds(10)).alias("retired").until(() -> node.ztunnel.pool().size() == 0);
            mode.set(Mode.ECHO);
            try (Socket second = tunnel()) {
                second.getOutputStream().write("two".getBytes());
                assertThat(second.getInputStream().readNBytes(3)).isEqualTo("two".getBytes());
            }
            assertThat(peer.accepted.get() - acceptedBefore).as("connections dialled").isEqualTo(2);
            first.getOutputStream().write("again".getBytes());
            assertThat(first.getInputStream().readNBytes(5)).isEqualTo("again".getBytes());
        }
    }

    /**
     * A burst of new tunnels to one destination while every dial is slow (300 ms): they wait on shared dials, and
     * each new connection's two streams go to two of them; the others wait for the next one. None is refused, however
     * many rounds it loses to the others.
     */
    @Test
    void aBurstOfNewTunnelsAllGetAStreamWhileDialsAreSlow() throws Exception {
        mode.set(Mode.ECHO);
        peer.beforeHandshake = () -> {
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        double refusedBefore = node.ztunnel.telemetry().rejections(true, "hbone_connect");
        double tunnelsBefore = openTunnels();
        ExecutorService threads = Executors.newFixedThreadPool(20);
        List<Socket> open = new ArrayList<>();
        try {
            List<Future<Socket>> results = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                results.add(threads.submit(() -> {
                    Socket s = tunnel();
                    s.getOutputStream().write("hi".getBytes());
                    assertThat(s.getInputStream().readNBytes(2)).isEqualTo("hi".getBytes());
                    return s;
                }));
            }
            List<String> failures = new ArrayList<>();
            for (Future<Socket> f : results) {
                try {
                    open.add(f.get(60, TimeUnit.SECONDS));
                } catch (java.util.concurrent.ExecutionException e) {
                    failures.add(String.valueOf(e.getCause()));
                }
            }
            assertThat(failures).as("tunnels refused in the burst").isEmpty();
            assertThat(node.ztunnel.telemetry().rejections(true, "hbone_connect")).isEqualTo(refusedBefore);
        } finally {
            for (Socket s : open) {
                s.close();
            }
            threads.shutdownNow();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> openTunnels() == tunnelsBefore);
    }
}
