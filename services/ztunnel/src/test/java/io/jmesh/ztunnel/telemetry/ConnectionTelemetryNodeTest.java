package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Istio's L4 telemetry as one local-mode ztunnel reports it, client and servers on its node (so each connection is
 * reported twice: {@code reporter="source"} by the outbound side, {@code "destination"} by the inbound side). Each
 * test talks to a workload of its own, so its series are its own.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ConnectionTelemetryNodeTest {

    static final String CLIENT_IP = "127.0.94.11";
    static final String OPEN_IP = "127.0.94.12";
    static final String ONCE_IP = "127.0.94.13";
    static final String REPLY_IP = "127.0.94.14";
    static final String REFUSING_IP = "127.0.94.15";
    static final String RESET_IP = "127.0.94.16";
    /** Only the "connection opened" test talks to it. */
    static final String OPENS_IP = "127.0.94.17";
    /** A workload of another node whose HBONE port answers in plain text (no TLS). */
    static final String FAR_IP = "127.0.94.20";
    /** No workload: outbound passes through. */
    static final String OUTSIDE_IP = "127.0.94.30";
    /** A PASSTHROUGH service's VIP (istiod's ServiceEntry with resolution NONE): an echo server outside the mesh. */
    static final String PASSTHROUGH_VIP = "127.0.94.40";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static int openPort;
    static int oncePort;
    static int resetPort;
    static int passthroughPort;
    static int opensPort;
    static ServerSocket replyServer;
    static ServerSocket farHbone;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        TestCa ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        openPort = new EchoServer(vertx).start(OPEN_IP).toCompletionStage().toCompletableFuture().get();
        oncePort = new EchoServer(vertx).start(ONCE_IP).toCompletionStage().toCompletableFuture().get();
        resetPort = new EchoServer(vertx).start(RESET_IP).toCompletionStage().toCompletableFuture().get();
        opensPort = new EchoServer(vertx).start(OPENS_IP).toCompletionStage().toCompletableFuture().get();
        passthroughPort = new EchoServer(vertx).start(PASSTHROUGH_VIP).toCompletionStage().toCompletableFuture().get();
        // reads the client's bytes to EOF, answers two bytes, closes
        replyServer = new ServerSocket();
        replyServer.bind(new InetSocketAddress(REPLY_IP, 0));
        daemon(() -> {
            while (!replyServer.isClosed()) {
                try (Socket s = replyServer.accept()) {
                    s.getInputStream().readAllBytes();
                    s.getOutputStream().write("ab".getBytes());
                } catch (Exception e) {
                    // the next one
                }
            }
        });
        // "HBONE" of another node that is no TLS server: answers a line of text and closes
        farHbone = new ServerSocket();
        farHbone.bind(new InetSocketAddress(FAR_IP, 15008));
        daemon(() -> {
            while (!farHbone.isClosed()) {
                try (Socket s = farHbone.accept()) {
                    s.getOutputStream().write("HTTP/1.1 400 not tls\r\n\r\n".getBytes());
                } catch (Exception e) {
                    // the next one
                }
            }
        });
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        StringBuilder workloads = new StringBuilder("workloads:\n");
        workload(workloads, "client", CLIENT_IP, "node-t");
        for (var w : List.of(List.of("open", OPEN_IP), List.of("once", ONCE_IP), List.of("reply", REPLY_IP),
                List.of("refusing", REFUSING_IP), List.of("reset", RESET_IP), List.of("opens", OPENS_IP))) {
            workload(workloads, w.get(0), w.get(1), "node-t");
        }
        workload(workloads, "far", FAR_IP, "node-far");
        workloads.append("services:\n  - {name: legacy, namespace: default, hostname: legacy.example.com,")
                .append(" addresses: [{address: ").append(PASSTHROUGH_VIP).append("}], ports: [{servicePort: ")
                .append(passthroughPort)
                .append("}], loadBalancing: {mode: PASSTHROUGH, healthPolicy: ALLOW_ALL}}\n");
        Files.writeString(mesh, workloads.toString());
        node = ZtunnelHarness.start(dir, "node-t", ZtunnelHarness.localNode("node-t", "127.0.94.1", mesh.toString(),
                caPort, token, null), null);
        await().atMost(Duration.ofSeconds(30)).until(() -> node.ready());
    }

    static void workload(StringBuilder out, String name, String ip, String nodeName) {
        out.append("  - {uid: ").append(name).append(", name: ").append(name)
                .append(", namespace: default, serviceAccount: ").append(name).append(", addresses: [").append(ip)
                .append("], node: ").append(nodeName).append(", tunnelProtocol: HBONE, canonicalName: ").append(name)
                .append(", canonicalRevision: v1}\n");
    }

    static void daemon(Runnable r) {
        Thread t = new Thread(r);
        t.setDaemon(true);
        t.start();
    }

    /**
     * Every connection a test made, established or refused at any step, leaves shutdown's registry once closed: an
     * entry left behind would be memory held for ever, and a connection close would "end" at shutdown.
     */
    @AfterEach
    void everyClosedConnectionLeftTheShutdownRegistry() {
        ConnectionTelemetry telemetry = node.ztunnel.telemetry();
        await("connections registered for shutdown after the test's closed").atMost(Duration.ofSeconds(10))
                .until(() -> telemetry.openConnections() == 0);
    }

    @AfterAll
    static void stop() throws Exception {
        node.close();
        replyServer.close();
        farHbone.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    double bytes(String metric, String reporter, String destination) {
        return node.metricSum(metric, "reporter=\"" + reporter + "\"", "destination_workload=\"" + destination + "\"");
    }

    @Test
    void bytesOfAConnectionStillOpenAreCountedByBothReporters() throws Exception {
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, OPEN_IP, openPort)) {
            byte[] payload = new byte[10_000];
            s.getOutputStream().write(payload);
            assertThat(s.getInputStream().readNBytes(payload.length)).hasSize(payload.length);
            // still open: Istio's ztunnel adds to the byte counters as bytes are copied, not when the connection ends
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                for (String reporter : List.of("source", "destination")) {
                    assertThat(bytes("istio_tcp_received_bytes_total", reporter, "open"))
                            .as("source to destination, reporter " + reporter).isEqualTo(10_000);
                    assertThat(bytes("istio_tcp_sent_bytes_total", reporter, "open"))
                            .as("destination to source, reporter " + reporter).isEqualTo(10_000);
                }
            });
            assertThat(node.metricSum("istio_tcp_connections_closed_total", "destination_workload=\"open\""))
                    .isZero();
        }
    }

    @Test
    void bytesAreCountedOnceWhenTheConnectionCloses() throws Exception {
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ONCE_IP, oncePort)) {
            s.getOutputStream().write(new byte[1234]);
            assertThat(s.getInputStream().readNBytes(1234)).hasSize(1234);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> node.metricSum("istio_tcp_connections_closed_total",
                "destination_workload=\"once\"") >= 2);
        for (String reporter : List.of("source", "destination")) {
            assertThat(bytes("istio_tcp_received_bytes_total", reporter, "once")).as(reporter).isEqualTo(1234);
            assertThat(bytes("istio_tcp_sent_bytes_total", reporter, "once")).as(reporter).isEqualTo(1234);
        }
    }

    /**
     * Istio's access log un-flips its byte counters for the source reporter only: on both lines {@code bytes_sent}
     * is what the reporting side's workload sent (the client for outbound, the destination for inbound).
     */
    @Test
    void theInboundAccessLogLineCountsWhatTheDestinationSentAsBytesSent() throws Exception {
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        try {
            try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, REPLY_IP, replyServer.getLocalPort())) {
                s.getOutputStream().write("12345".getBytes());
                s.shutdownOutput();
                assertThat(s.getInputStream().readAllBytes()).hasSize(2);
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> lines.list.stream()
                    .filter(l -> "reply".equals(kv(l).get("dst.workload"))).count() >= 2);
        } finally {
            access.detachAppender(lines);
        }
        Map<String, Object> inbound = line(lines, "reply", "inbound");
        Map<String, Object> outbound = line(lines, "reply", "outbound");
        assertThat(outbound).containsEntry("bytes_sent", 5L).containsEntry("bytes_recv", 2L);
        assertThat(inbound).containsEntry("bytes_sent", 2L).containsEntry("bytes_recv", 5L);
        // the metrics keep one direction for both reporters: received = source to destination
        for (String reporter : List.of("source", "destination")) {
            assertThat(bytes("istio_tcp_received_bytes_total", reporter, "reply")).as(reporter).isEqualTo(5);
            assertThat(bytes("istio_tcp_sent_bytes_total", reporter, "reply")).as(reporter).isEqualTo(2);
        }
    }

    @Test
    void aTunnelTheDestinationRefusesIsReportedBySourceWithResponseFlagConnect() throws Exception {
        int closedPort = closedPort(REFUSING_IP);
        assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, REFUSING_IP, closedPort).close())
                .isInstanceOf(Socks5Client.Refused.class);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            for (String reporter : List.of("source", "destination")) {
                for (String metric : List.of("istio_tcp_connections_opened_total",
                        "istio_tcp_connections_closed_total", "istio_tcp_connections_failed_total")) {
                    double flagged = metric.contains("opened") ? node.metricSum(metric,
                            "reporter=\"" + reporter + "\"", "destination_workload=\"refusing\"")
                            : node.metricSum(metric, "reporter=\"" + reporter + "\"",
                                    "destination_workload=\"refusing\"", "response_flags=\"CONNECT\"");
                    assertThat(flagged).as(metric + ", reporter " + reporter).isEqualTo(1);
                }
            }
        });
        // and still a refusal, as before
        assertThat(node.ztunnel.telemetry().rejections(true, "hbone_status_503")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void aPassthroughServiceConnectionNamesNoDestinationService() throws Exception {
        // Istio's outbound sends a PASSTHROUGH service's connection to the original destination with no intended
        // destination service: its series say destination_service="unknown", as any passthrough's (which other
        // tests here make too: counted from here)
        String[] unknownService = {"reporter=\"source\"", "source_workload=\"client\"",
                "destination_workload=\"unknown\"", "destination_service=\"unknown\"",
                "destination_service_name=\"unknown\"", "destination_service_namespace=\"unknown\"",
                "response_flags=\"-\""};
        double before = node.metricSum("istio_tcp_connections_closed_total", unknownService);
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, PASSTHROUGH_VIP, passthroughPort)) {
            s.getOutputStream().write(new byte[7]);
            assertThat(s.getInputStream().readNBytes(7)).hasSize(7);
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(node.metricSum(
                "istio_tcp_connections_closed_total", unknownService)).isEqualTo(before + 1));
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "destination_service=\"legacy.example.com\""))
                .isZero();
    }

    @Test
    void aPassthroughConnectFailureIsReportedBySourceWithResponseFlagConnect() throws Exception {
        int closedPort = closedPort(OUTSIDE_IP);
        assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, OUTSIDE_IP, closedPort).close())
                .isInstanceOf(Socks5Client.Refused.class);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(node.metricSum(
                "istio_tcp_connections_failed_total", "reporter=\"source\"", "source_workload=\"client\"",
                "destination_workload=\"unknown\"", "response_flags=\"CONNECT\"",
                "connection_security_policy=\"unknown\"")).isEqualTo(1));
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"source\"",
                "destination_workload=\"unknown\"")).isEqualTo(1);
        assertThat(node.ztunnel.telemetry().rejections(true, "connect_failed")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void aFailedTlsHandshakeIsReportedBySourceWithResponseFlagTlsFailure() throws Exception {
        assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, FAR_IP, 8080).close())
                .isInstanceOf(Socks5Client.Refused.class);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(node.metricSum(
                "istio_tcp_connections_failed_total", "reporter=\"source\"", "destination_workload=\"far\"",
                "response_flags=\"TLS_FAILURE\"", "connection_security_policy=\"mutual_tls\"")).isEqualTo(1));
    }

    /**
     * A client that ends its connection with a reset (SO_LINGER 0, or closing with unread input, as HTTP clients
     * often do) ends it as Istio's ztunnel sees it: cleanly, no failed connection, no error line.
     */
    @Test
    void anApplicationResetIsNoFailedConnection() throws Exception {
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        try {
            Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, RESET_IP, resetPort);
            s.getOutputStream().write("hello".getBytes());
            assertThat(s.getInputStream().readNBytes(5)).hasSize(5);
            s.setSoLinger(true, 0);
            s.close(); // RST
            await().atMost(Duration.ofSeconds(20)).until(() -> lines.list.stream()
                    .filter(l -> "reset".equals(kv(l).get("dst.workload"))).count() >= 2);
        } finally {
            access.detachAppender(lines);
        }
        assertThat(node.metricSum("istio_tcp_connections_closed_total", "destination_workload=\"reset\"",
                "response_flags=\"-\"")).isEqualTo(2);
        assertThat(node.metricSum("istio_tcp_connections_failed_total", "destination_workload=\"reset\"")).isZero();
        assertThat(lines.list).filteredOn(l -> "reset".equals(kv(l).get("dst.workload")))
                .allSatisfy(l -> assertThat(kv(l)).doesNotContainKey("error").containsEntry("response_flags", "-"));
    }

    /**
     * As Istio's ztunnel (its {@code ConnectionResult::new}), each side writes a DEBUG "connection opened" line when a
     * connection opens, with the close line's addresses, workloads, namespaces, identities and direction, and no
     * bytes, duration or flags; at INFO, none.
     */
    @Test
    void eachSideLogsTheOpenAtDebugOnly() throws Exception {
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        ch.qos.logback.classic.Level level = access.getLevel();
        try {
            access.setLevel(ch.qos.logback.classic.Level.DEBUG);
            try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, OPENS_IP, opensPort)) {
                s.getOutputStream().write(new byte[3]);
                assertThat(s.getInputStream().readNBytes(3)).hasSize(3);
                await("a \"connection opened\" line of each side").atMost(Duration.ofSeconds(10))
                        .until(() -> opened(lines).size() == 2);
            }
            for (String direction : List.of("outbound", "inbound")) {
                Map<String, Object> line = opened(lines).stream().map(ConnectionTelemetryNodeTest::kv)
                        .filter(m -> direction.equals(m.get("direction"))).findFirst().orElseThrow();
                assertThat(line).as(direction).containsEntry("src.workload", "client")
                        .containsEntry("src.namespace", "default")
                        .containsEntry("src.identity", "spiffe://cluster.local/ns/default/sa/client")
                        .containsEntry("dst.workload", "opens").containsEntry("dst.namespace", "default")
                        .containsEntry("dst.identity", "spiffe://cluster.local/ns/default/sa/opens")
                        .containsEntry("dst.addr", OPENS_IP + ":15008")
                        .containsEntry("dst.hbone_addr", OPENS_IP + ":" + opensPort)
                        .containsKey("src.addr")
                        .doesNotContainKeys("bytes_sent", "bytes_recv", "duration", "response_flags", "error");
            }
            assertThat(opened(lines)).allSatisfy(l -> assertThat(l.getLevel())
                    .isEqualTo(ch.qos.logback.classic.Level.DEBUG));

            await().atMost(Duration.ofSeconds(10)).until(() -> completed(lines) == 2); // before the next connection
            access.setLevel(ch.qos.logback.classic.Level.INFO);
            lines.list.clear();
            try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, OPENS_IP, opensPort)) {
                s.getOutputStream().write(new byte[3]);
                assertThat(s.getInputStream().readNBytes(3)).hasSize(3);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> completed(lines) == 2);
            assertThat(opened(lines)).as("no open line at INFO").isEmpty();
        } finally {
            access.setLevel(level);
            access.detachAppender(lines);
        }
    }

    /** "connection complete" lines of connections to "opens" (another test's may close meanwhile). */
    private static long completed(ListAppender<ILoggingEvent> lines) {
        return lines.list.stream().filter(l -> l.getFormattedMessage().equals("connection complete")
                && "opens".equals(kv(l).get("dst.workload"))).count();
    }

    private static List<ILoggingEvent> opened(ListAppender<ILoggingEvent> lines) {
        return lines.list.stream().filter(l -> l.getFormattedMessage().equals("connection opened")).toList();
    }

    static int closedPort(String ip) throws Exception {
        try (ServerSocket tmp = new ServerSocket()) {
            tmp.bind(new InetSocketAddress(ip, 0));
            return tmp.getLocalPort();
        }
    }

    static Map<String, Object> line(ListAppender<ILoggingEvent> lines, String workload, String direction) {
        return lines.list.stream().map(ConnectionTelemetryNodeTest::kv)
                .filter(m -> workload.equals(m.get("dst.workload")) && direction.equals(m.get("direction")))
                .findFirst().orElseThrow();
    }

    static Map<String, Object> kv(ILoggingEvent e) {
        Map<String, Object> m = new HashMap<>();
        if (e.getKeyValuePairs() != null) {
            e.getKeyValuePairs().forEach(p -> m.put(p.key, p.value));
        }
        return m;
    }
}
