package io.jmesh.ztunnel.telemetry;

import static io.jmesh.ztunnel.testing.TcpStates.synSent;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.Closeable;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real ztunnel's shutdown (the launcher's drain, then close) with connections still being set up: a SOCKS5
 * passthrough whose connect to its destination is under way, and a tunnel between two workloads of the node whose
 * inbound side's connect to the application is under way, so that its outbound side still waits for the CONNECT's
 * 200. Both destinations' accept queues are full: the kernel drops the SYNs and the connects hang (for ztunnel's
 * {@code hbone.connectTimeout}, here far beyond the test). As the connections already relayed
 * ({@link OpenConnectionsAtShutdownTest}), each is ended by close and recorded as Istio's {@code ClosedFromDrain}
 * (access-log line and CLOSED in Kafka) before the event publisher closes, none counted lost, and none counted as a
 * refusal.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ConnectionsInSetUpAtShutdownTest {

    static final String NODE_IP = "127.0.162.1";
    static final String CLIENT_IP = "127.0.162.11";
    static final String SERVER_IP = "127.0.162.12";
    /** No workload: the node's outbound passes through. */
    static final String OUTSIDE_IP = "127.0.162.30";

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    Path dir;

    @BeforeAll
    static void topic() {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
    }

    @Test
    void connectionsBeingSetUpAtCloseAreLoggedAndPublishedAsClosedFromDrain() throws Exception {
        String node = "node-" + UUID.randomUUID();
        Vertx vertx = Vertx.vertx();
        ClosedEvents.AccessLog lines = new ClosedEvents.AccessLog();
        List<Closeable> held = new ArrayList<>();
        try {
            int serverPort = neverAccepting(SERVER_IP, held);
            int outsidePort = neverAccepting(OUTSIDE_IP, held);
            ZtunnelHarness ztunnel = ClosedEvents.node(dir, vertx, node, NODE_IP, kafka.bootstrapServers(),
                    List.of(List.of("client", CLIENT_IP), List.of("server", SERVER_IP)), "hbone: {connectTimeout: 2m}");
            try {
                await().atMost(Duration.ofSeconds(30)).until(ztunnel::ready);
                lines.start();
                // the replies only come once the tunnels are open: never, before close
                held.add(Socks5Client.request(ztunnel.socks(), CLIENT_IP, OUTSIDE_IP, outsidePort));
                held.add(Socks5Client.request(ztunnel.socks(), CLIENT_IP, SERVER_IP, serverPort));
                // the passthrough's connect, and the tunnel's inbound connect to the application (its outbound
                // side's CONNECT has arrived, so it waits for the 200): both SYNs sent, unanswered
                await().atMost(Duration.ofSeconds(10)).until(() -> synSent(OUTSIDE_IP, outsidePort)
                        && synSent(SERVER_IP, serverPort));
            } finally {
                ztunnel.close(); // a drain deadline of 2 s, which the tunnel waiting for its 200 outlives
                lines.close();
            }

            List<ConnectionEvent> closed = ClosedEvents.of(kafka, node, 3);
            assertThat(closed).as("CLOSED events in Kafka").extracting(ConnectionEvent::getReporter,
                    ConnectionEvent::getError, ConnectionEvent::getResponseFlags).containsExactlyInAnyOrder(
                            Tuple.tuple(Reporter.SOURCE, ConnectionTelemetry.CLOSED_FROM_DRAIN, ""),
                            Tuple.tuple(Reporter.SOURCE, ConnectionTelemetry.CLOSED_FROM_DRAIN, ""),
                            Tuple.tuple(Reporter.DESTINATION, ConnectionTelemetry.CLOSED_FROM_DRAIN, ""));
            assertThat(closed).allSatisfy(e -> assertThat(e.getBytesReceived() + e.getBytesSent()).isZero());
            List<Map<String, Object>> complete = lines.completeKeyValues();
            assertThat(complete).as("the access-log lines written by close: %s", complete)
                    .extracting(l -> l.get("direction"), l -> l.get("error"), l -> l.get("response_flags"))
                    .containsExactlyInAnyOrder(
                            Tuple.tuple("outbound", ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"),
                            Tuple.tuple("outbound", ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"),
                            Tuple.tuple("inbound", ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"));

            assertThat(ztunnel.metric("ztunnel_connection_closes_lost_total")).isZero();
            assertThat(ztunnel.metricSum("ztunnel_connection_rejections_total"))
                    .as("attempts ztunnel ended itself are no refusals").isZero();
        } finally {
            for (Closeable c : held) {
                c.close();
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * A listener on {@code ip} whose accept queue is full, so the kernel drops any further SYN and a connect to it
     * hangs until the connecting side gives up; it and its fillers are added to {@code held}.
     */
    static int neverAccepting(String ip, List<Closeable> held) throws Exception {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(ip, 0), 1);
        held.add(server);
        InetSocketAddress at = (InetSocketAddress) server.getLocalSocketAddress();
        for (int i = 0; i < 16; i++) {
            Socket filler = new Socket();
            try {
                filler.connect(at, 300);
                held.add(filler);
            } catch (SocketTimeoutException full) {
                filler.close();
                return at.getPort();
            }
        }
        throw new IllegalStateException("the accept queue of " + at + " never filled");
    }
}
