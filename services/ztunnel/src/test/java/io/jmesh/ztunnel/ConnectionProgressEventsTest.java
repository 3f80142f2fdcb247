package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real ztunnel, a tunnel through it kept open: its bytes reach Kafka while it is open (PROGRESS events, both
 * reporters), not only at its close, and the close's remainder completes them to the totals.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ConnectionProgressEventsTest {

    @RegisterExtension
    static KafkaExtension kafka = new KafkaExtension();

    private static final String CLIENT_IP = "127.0.92.11";
    private static final String ECHO_IP = "127.0.92.12";

    @TempDir
    Path dir;

    private Vertx vertx;
    private ZtunnelHarness node;

    @AfterEach
    void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void anOpenTunnelsBytesAreReportedWhileItIsOpenAndAddUpToTheTotalsAtItsClose() throws Exception {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        int echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path mesh = setup.clientAndEcho("node-p", CLIENT_IP, ECHO_IP);
        node = ZtunnelHarness.start(dir, "node-p", setup.localNode("node-p", "127.0.92.1", mesh,
                "kafka: {bootstrapServers: \"" + kafka.bootstrapServers() + "\"}\n"
                        + "telemetry: {progressInterval: 200ms}"), null);
        await().atMost(Duration.ofSeconds(30)).until(node::ready);

        List<ConnectionEvent> events = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(new HashMap<String, Object>(
                kafka.consumerConfig("progress", ByteArrayDeserializer.class, ByteArrayDeserializer.class)));
                Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            c.subscribe(List.of(ConnectionTelemetry.TOPIC));
            s.getOutputStream().write(new byte[1000]);
            s.getInputStream().readNBytes(1000);

            // the tunnel is open: each side reports the 1000 bytes each way
            await().atMost(Duration.ofSeconds(60)).alias("PROGRESS from both reporters while the tunnel is open")
                    .until(() -> {
                        poll(c, events);
                        return progressed(events, Reporter.SOURCE) == 1000
                                && progressed(events, Reporter.DESTINATION) == 1000;
                    });
            assertThat(events).noneMatch(e -> e.getKind() == ConnectionEvent.Kind.CLOSED);

            s.getOutputStream().write(new byte[500]);
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            assertThat(in.readAllBytes()).hasSize(500);
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                poll(c, events);
                return events.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED).count() == 2;
            });
        }
        for (Reporter r : new Reporter[] {Reporter.SOURCE, Reporter.DESTINATION}) {
            ConnectionEvent closed = events.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED
                    && e.getReporter() == r).findFirst().orElseThrow();
            assertThat(new long[] {closed.getBytesReceived(), closed.getBytesSent()}).as(r + " totals")
                    .containsExactly(1500, 1500);
            long progressReceived = events.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.PROGRESS
                    && e.getReporter() == r).mapToLong(ConnectionEvent::getBytesReceived).sum();
            assertThat(closed.getReportedBytesReceived()).as(r + ": what its PROGRESS events carried")
                    .isEqualTo(progressReceived).isGreaterThanOrEqualTo(1000);
            assertThat(events).filteredOn(e -> e.getKind() == ConnectionEvent.Kind.PROGRESS && e.getReporter() == r)
                    .allSatisfy(e -> assertThat(e.getConnectionId()).isEqualTo(closed.getConnectionId()));
        }
    }

    private static void poll(KafkaConsumer<byte[], byte[]> c, List<ConnectionEvent> events) throws Exception {
        for (var r : c.poll(Duration.ofMillis(200))) {
            events.add(ConnectionEvent.parseFrom(r.value()));
        }
    }

    /** Bytes from the source that {@code reporter}'s PROGRESS events carried. */
    private static long progressed(List<ConnectionEvent> events, Reporter reporter) {
        return events.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.PROGRESS && e.getReporter() == reporter)
                .mapToLong(ConnectionEvent::getBytesReceived).sum();
    }
}
