package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
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
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The access log's {@code duration} of a connection runs, as Istio's ztunnel measures it (its {@code
 * ConnectionResult} is made with the start instant before it dials), from when ztunnel took the connection to route
 * it: a failed attempt includes the dial that failed, a successful one the dial that succeeded. Each dial here takes
 * a known, controlled time (a peer that answers late, a listener whose full accept queue drops the SYN until the
 * connect timeout), and only a lower bound is asserted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AttemptDurationTest {

    static final String CLIENT_IP = "127.0.96.11";
    /** A workload of this node whose application port never accepts: the inbound connect times out. */
    static final String STUCK_APP_IP = "127.0.96.12";
    /** A workload of another node whose HBONE port never accepts: the outbound dial times out. */
    static final String HOLE_IP = "127.0.96.20";
    /** A workload of another node whose HBONE port accepts, says nothing for {@link #DELAY_MS}, then closes. */
    static final String MUTE_IP = "127.0.96.21";
    /** A workload of another node whose HBONE peer answers each CONNECT 200 after {@link #DELAY_MS}. */
    static final String LATE_IP = "127.0.96.22";
    /** No workload: outbound passes through (to a port that never accepts). */
    static final String OUTSIDE_IP = "127.0.96.30";

    static final long CONNECT_TIMEOUT_MS = 1000;
    static final long DELAY_MS = 600;

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static FakeHboneServer late;
    static ServerSocket mute;
    static final List<AutoCloseable> holes = new ArrayList<>();
    static int stuckAppPort;
    static int outsidePort;

    ListAppender<ILoggingEvent> lines;

    @BeforeAll
    static void start() throws Exception {
        // the slow dials below rely on the kernel dropping SYNs to a full accept queue (its default), not resetting
        Path abort = Path.of("/proc/sys/net/ipv4/tcp_abort_on_overflow");
        org.junit.jupiter.api.Assumptions.assumeTrue(!Files.exists(abort) || Files.readString(abort).trim().equals("0"),
                "net.ipv4.tcp_abort_on_overflow is set: a full accept queue resets connects instead of dropping them");
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-t, tunnelProtocol: HBONE}
                  - {uid: stuck, name: stuck, namespace: default, serviceAccount: stuck, addresses: [%s],
                     node: node-t, tunnelProtocol: HBONE}
                  - {uid: hole, name: hole, namespace: default, serviceAccount: hole, addresses: [%s],
                     node: node-far, tunnelProtocol: HBONE}
                  - {uid: mute, name: mute, namespace: default, serviceAccount: mute, addresses: [%s],
                     node: node-far, tunnelProtocol: HBONE}
                  - {uid: late, name: late, namespace: default, serviceAccount: late, addresses: [%s],
                     node: node-far, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, STUCK_APP_IP, HOLE_IP, MUTE_IP, LATE_IP));
        stuckAppPort = neverAccepting(STUCK_APP_IP, 0);
        neverAccepting(HOLE_IP, 15008);
        outsidePort = neverAccepting(OUTSIDE_IP, 0);
        // an "HBONE port" that takes the connection and stays silent for DELAY_MS before closing it: the client's
        // TLS handshake fails then
        mute = new ServerSocket();
        mute.bind(new InetSocketAddress(MUTE_IP, 15008));
        daemon(() -> {
            while (!mute.isClosed()) {
                try (Socket s = mute.accept()) {
                    Thread.sleep(DELAY_MS);
                    s.getOutputStream().write("not tls\r\n".getBytes());
                } catch (Exception e) {
                    // the next one
                }
            }
        });
        late = new FakeHboneServer(new InetSocketAddress(LATE_IP, 15008),
                setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/late"), LateAnswer::new);
        node = ZtunnelHarness.start(dir, "node-t", setup.localNode("node-t", "127.0.96.1", mesh,
                "hbone: {connectTimeout: " + CONNECT_TIMEOUT_MS + "ms}"), null);
        await().atMost(Duration.ofSeconds(30)).until(node::ready);
    }

    /** Answers the CONNECT 200 {@link #DELAY_MS} after it came, then echoes. */
    static final class LateAnswer extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame) {
                    ctx.executor().schedule(() -> ctx.writeAndFlush(
                            new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"))),
                            DELAY_MS, TimeUnit.MILLISECONDS);
                } else if (msg instanceof Http2DataFrame d) {
                    ctx.writeAndFlush(new DefaultHttp2DataFrame(d.content().retain(), d.isEndStream()));
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    /**
     * A listener whose accept queue is full, so the kernel drops any further SYN and a connect to it hangs until the
     * connecting side gives up (here ztunnel's {@code hbone.connectTimeout}).
     */
    static int neverAccepting(String ip, int port) throws Exception {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(ip, port), 1);
        holes.add(server);
        InetSocketAddress at = (InetSocketAddress) server.getLocalSocketAddress();
        for (int i = 0; i < 16; i++) {
            Socket filler = new Socket();
            try {
                filler.connect(at, 300);
                holes.add(filler);
            } catch (SocketTimeoutException full) {
                filler.close();
                return at.getPort();
            }
        }
        throw new IllegalStateException("the accept queue of " + at + " never filled");
    }

    static void daemon(Runnable r) {
        Thread t = new Thread(r);
        t.setDaemon(true);
        t.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (vertx == null) {
            return; // skipped before anything started
        }
        node.close();
        late.close();
        mute.close();
        for (AutoCloseable c : holes) {
            c.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @BeforeEach
    void listen() {
        lines = new ListAppender<>();
        lines.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(lines);
    }

    @AfterEach
    void unlisten() {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(lines);
    }

    /** The "connection complete" line that matches, once it was written. */
    Map<String, Object> completed(Predicate<Map<String, Object>> which) {
        return await().atMost(Duration.ofSeconds(20)).until(() -> lines.list.stream()
                .filter(l -> "connection complete".equals(l.getMessage())).map(AttemptDurationTest::kv)
                .filter(which).findFirst().orElse(null), java.util.Objects::nonNull);
    }

    static Predicate<Map<String, Object>> line(String direction, String key, String value) {
        return m -> direction.equals(m.get("direction")) && value.equals(m.get(key));
    }

    static long millis(Map<String, Object> line) {
        String d = (String) line.get("duration");
        assertThat(d).matches("\\d+ms");
        return Long.parseLong(d.substring(0, d.length() - 2));
    }

    static Map<String, Object> kv(ILoggingEvent e) {
        Map<String, Object> m = new HashMap<>();
        if (e.getKeyValuePairs() != null) {
            e.getKeyValuePairs().forEach(p -> m.put(p.key, p.value));
        }
        return m;
    }

    static void refused(String host, int port) {
        assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, host, port).close())
                .isInstanceOf(Socks5Client.Refused.class);
    }

    /**
     * The destination's ztunnel cannot connect to the application within the connect timeout: its inbound line
     * (CONNECT) and the source's outbound line (a tunnel answered 503) both last at least that long.
     */
    @Test
    void aTunnelRefusedAfterTheApplicationConnectTimedOutLastsTheConnectTimeoutOnBothSides() {
        refused(STUCK_APP_IP, stuckAppPort);
        Map<String, Object> inbound = completed(line("inbound", "dst.workload", "stuck"));
        Map<String, Object> outbound = completed(line("outbound", "dst.workload", "stuck"));
        assertThat(inbound).containsEntry("response_flags", "CONNECT");
        assertThat(outbound).containsEntry("response_flags", "CONNECT");
        assertThat(millis(inbound)).as("inbound").isGreaterThanOrEqualTo(CONNECT_TIMEOUT_MS);
        assertThat(millis(outbound)).as("outbound").isGreaterThanOrEqualTo(CONNECT_TIMEOUT_MS);
    }

    @Test
    void anHboneDialThatTimedOutLastsTheConnectTimeout() {
        refused(HOLE_IP, 8080);
        Map<String, Object> outbound = completed(line("outbound", "dst.workload", "hole"));
        assertThat(outbound).containsEntry("response_flags", "NETWORK_POLICY");
        assertThat(millis(outbound)).isGreaterThanOrEqualTo(CONNECT_TIMEOUT_MS);
    }

    @Test
    void aTlsHandshakeThatFailedLateLastsUntilItFailed() {
        refused(MUTE_IP, 8080);
        Map<String, Object> outbound = completed(line("outbound", "dst.workload", "mute"));
        assertThat(outbound).containsEntry("response_flags", "TLS_FAILURE");
        assertThat(millis(outbound)).isGreaterThanOrEqualTo(DELAY_MS);
    }

    @Test
    void aPassthroughConnectThatTimedOutLastsTheConnectTimeout() {
        refused(OUTSIDE_IP, outsidePort);
        Map<String, Object> outbound = completed(line("outbound", "dst.addr", OUTSIDE_IP + ":" + outsidePort));
        assertThat(outbound).containsEntry("response_flags", "CONNECT");
        assertThat(millis(outbound)).isGreaterThanOrEqualTo(CONNECT_TIMEOUT_MS);
    }

    /** A tunnel answered late, then used: its duration includes the wait for the answer, as Istio's does. */
    @Test
    void aTunnelAnsweredLateLastsFromBeforeTheDial() throws Exception {
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, LATE_IP, 8080)) {
            s.getOutputStream().write("hi".getBytes());
            assertThat(s.getInputStream().readNBytes(2)).isEqualTo("hi".getBytes());
        }
        Map<String, Object> outbound = completed(line("outbound", "dst.workload", "late"));
        assertThat(outbound).containsEntry("response_flags", "-").doesNotContainKey("error");
        assertThat(millis(outbound)).isGreaterThanOrEqualTo(DELAY_MS);
    }
}
