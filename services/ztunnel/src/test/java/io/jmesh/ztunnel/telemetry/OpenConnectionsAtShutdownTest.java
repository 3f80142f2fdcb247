package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real ztunnel's shutdown (the launcher's drain, then close) with connections still open past the drain deadline:
 * a plain passthrough relay (which the drain does not even wait for) and an HBONE tunnel between two workloads of
 * the node (both its sides). As Istio's ztunnel, which records every connection it drops at shutdown with its
 * {@code ClosedFromDrain} error, each gets its "connection complete" line and its CLOSED event in Kafka before the
 * event publisher closes, none counted lost.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class OpenConnectionsAtShutdownTest {

    static final String NODE_IP = "127.0.161.1";
    static final String CLIENT_IP = "127.0.161.11";
    static final String SERVER_IP = "127.0.161.12";
    /** No workload: the node's outbound passes through. */
    static final String OUTSIDE_IP = "127.0.161.30";

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    Path dir;

    @BeforeAll
    static void topic() {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
    }

    @Test
    void connectionsOpenAtCloseAreLoggedAndPublishedAsClosedFromDrain() throws Exception {
        String node = "node-" + UUID.randomUUID();
        Vertx vertx = Vertx.vertx();
        ClosedEvents.AccessLog lines = new ClosedEvents.AccessLog();
        List<Socket> held = new ArrayList<>();
        try {
            int serverPort = new EchoServer(vertx).start(SERVER_IP).toCompletionStage().toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            int outsidePort = new EchoServer(vertx).start(OUTSIDE_IP).toCompletionStage().toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            ZtunnelHarness ztunnel = ClosedEvents.node(dir, vertx, node, NODE_IP, kafka.bootstrapServers(),
                    List.of(List.of("client", CLIENT_IP), List.of("server", SERVER_IP)), "");
            try {
                await().atMost(Duration.ofSeconds(30)).until(ztunnel::ready);
                held.add(echoing(Socks5Client.connect(ztunnel.socks(), CLIENT_IP, OUTSIDE_IP, outsidePort)));
                held.add(echoing(Socks5Client.connect(ztunnel.socks(), CLIENT_IP, SERVER_IP, serverPort)));
                ConnectionTelemetry telemetry = ztunnel.ztunnel.telemetry();
                // the passthrough, and the tunnel's outbound and inbound sides
                await().atMost(Duration.ofSeconds(10)).until(() -> telemetry.relayedConnections() == 3);
                lines.start();
            } finally {
                ztunnel.close(); // a drain deadline of 2 s, which the open tunnel outlives
                lines.close();
            }

            List<ConnectionEvent> closed = ClosedEvents.of(kafka, node, 3);
            assertThat(closed).as("CLOSED events in Kafka").extracting(ConnectionEvent::getReporter,
                    ConnectionEvent::getError, ConnectionEvent::getResponseFlags).containsExactlyInAnyOrder(
                            org.assertj.core.groups.Tuple.tuple(io.jmesh.proto.telemetry.v1.Reporter.SOURCE,
                                    ConnectionTelemetry.CLOSED_FROM_DRAIN, ""),
                            org.assertj.core.groups.Tuple.tuple(io.jmesh.proto.telemetry.v1.Reporter.SOURCE,
                                    ConnectionTelemetry.CLOSED_FROM_DRAIN, ""),
                            org.assertj.core.groups.Tuple.tuple(io.jmesh.proto.telemetry.v1.Reporter.DESTINATION,
                                    ConnectionTelemetry.CLOSED_FROM_DRAIN, ""));
            assertThat(closed).allSatisfy(e -> assertThat(e.getBytesReceived()).isEqualTo(5));
            List<Map<String, Object>> complete = lines.completeKeyValues();
            assertThat(complete).as("the access-log lines written by close: %s", complete)
                    .extracting(l -> l.get("direction"), l -> l.get("error"), l -> l.get("response_flags"))
                    .containsExactlyInAnyOrder(
                            org.assertj.core.groups.Tuple.tuple("outbound",
                                    ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"),
                            org.assertj.core.groups.Tuple.tuple("outbound",
                                    ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"),
                            org.assertj.core.groups.Tuple.tuple("inbound",
                                    ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"));
            assertThat(lines.complete())
                    .allSatisfy(l -> assertThat(l.getLevel()).isEqualTo(ch.qos.logback.classic.Level.ERROR));

            assertThat(ztunnel.metric("ztunnel_connection_closes_lost_total")).isZero();
        } finally {
            for (Socket s : held) {
                s.close();
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /** {@code s} once five bytes made the round trip: its relay runs. */
    private static Socket echoing(Socket s) throws Exception {
        s.setSoTimeout(10_000);
        s.getOutputStream().write("12345".getBytes(StandardCharsets.US_ASCII));
        assertThat(s.getInputStream().readNBytes(5)).asString(StandardCharsets.US_ASCII).isEqualTo("12345");
        return s;
    }
}
