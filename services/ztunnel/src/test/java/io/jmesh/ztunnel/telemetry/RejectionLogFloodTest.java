package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ztunnel.dns.DnsProxy;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * A flood of bad input through a real ztunnel's listeners (SOCKS5 garbage, malformed DNS datagrams) logs at most
 * {@code telemetry.rejectionLog.linesPerInterval} lines per reason in an interval, while the metrics count every
 * refusal. The interval is an hour here, so the bound is exact whatever the machine's speed.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RejectionLogFloodTest {

    static final String NODE_IP = "127.0.47.1";
    static final String CLIENT_IP = "127.0.47.12";
    static final int FLOOD = 60;
    static final int LINES = 3;

    @TempDir
    static Path dir;
    static Vertx vertx;
    static TestCa ca;
    static ZtunnelHarness node;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, """
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-f, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP));
        node = ZtunnelHarness.start(dir, "node-f", ZtunnelHarness.localNode("node-f", NODE_IP,
                "{staticFile: \"" + mesh + "\"}", 0, caPort, token,
                "telemetry: {progressInterval: 60s, seriesIdleWindow: 7m, rejectionLog: {linesPerInterval: " + LINES + ", interval: 1h}}"),
                null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
    }

    @AfterAll
    static void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void socksGarbageFloodIsCountedInFullAndLoggedWithinTheLimit() throws Exception {
        ListAppender<ILoggingEvent> lines = capture("access");
        try {
            double before = node.ztunnel.telemetry().rejections(true, "socks_malformed");
            for (int i = 0; i < FLOOD; i++) {
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(CLIENT_IP, 0));
                    s.connect(node.socks());
                    OutputStream out = s.getOutputStream();
                    out.write("GET / HTTP/1.1\r\n\r\n".getBytes());
                    out.flush();
                    s.setSoTimeout(5000);
                    assertThat(s.getInputStream().read()).isEqualTo(-1); // closed on us
                }
            }
            await().until(() -> node.ztunnel.telemetry().rejections(true, "socks_malformed") == before + FLOOD);
        } finally {
            detach("access", lines);
        }
        assertThat(lines.list.stream().filter(e -> e.getFormattedMessage().equals("connection failed"))
                .filter(e -> e.getKeyValuePairs().stream().anyMatch(kv -> kv.key.equals("reason")
                        && "socks_malformed".equals(kv.value))).count()).isEqualTo(LINES);
    }

    @Test
    void malformedDnsFloodIsCountedInFullAndLoggedWithinTheLimit() throws Exception {
        DnsProxy dns = node.ztunnel.dns();
        ListAppender<ILoggingEvent> lines = capture(DnsProxy.class.getName());
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(CLIENT_IP, 0))) {
            double before = node.metric("ztunnel_dns_rejections_total", "protocol", "udp", "reason", "too_short");
            for (int i = 0; i < FLOOD; i++) {
                s.send(new DatagramPacket(new byte[] {1, 2, 3}, 3, dns.address()));
            }
            await().until(() -> node.metric("ztunnel_dns_rejections_total", "protocol", "udp", "reason",
                    "too_short") == before + FLOOD);
        } finally {
            detach(DnsProxy.class.getName(), lines);
        }
        assertThat(lines.list.stream().filter(e -> e.getFormattedMessage().startsWith("dns query refused"))
                .count()).isEqualTo(LINES);
    }

    @Test
    void theConfiguredSeriesIdleWindowIsTheOneInForce() {
        assertThat(node.ztunnel.telemetry().seriesIdleWindow()).isEqualTo(Duration.ofMinutes(7));
    }

    static ListAppender<ILoggingEvent> capture(String logger) {
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        ((Logger) LoggerFactory.getLogger(logger)).addAppender(lines);
        return lines;
    }

    static void detach(String logger, ListAppender<ILoggingEvent> lines) {
        ((Logger) LoggerFactory.getLogger(logger)).detachAppender(lines);
    }
}
