package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.jmesh.ztunnel.testing.TestCa;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real ztunnel's shutdown (the launcher's drain and close): CLOSED events the event publisher had no room for
 * while Kafka was away reach Kafka by the end of shutdown (offered again once the publisher has room, or once more
 * before it closes), and what still cannot go is counted lost. Real broker behind a bootstrap address that holds
 * the producer until released ({@link HeldBootstrap}), a publisher queue of one. {@link KeptClosesTest} drives each
 * of the two offers on its own.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KeptClosesAtShutdownTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    Path dir;

    @BeforeAll
    static void topic() {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
    }

    @Test
    void closesKeptWhileKafkaWasAwayGoOutAtShutdown() throws Exception {
        String node = "node-" + UUID.randomUUID();
        int connections = 20;
        Vertx vertx = Vertx.vertx();
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers())) {
            ZtunnelHarness ztunnel = start(vertx, node, "127.0.157.1", bootstrap);
            double lost;
            try {
                ConnectionTelemetry telemetry = ztunnel.ztunnel.telemetry();
                // the sender waits on metadata with the first event, the queue of one holds the next: the rest of
                // the CLOSED events are refused and kept
                for (int i = 0; i < connections; i++) {
                    telemetry.opened(ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT,
                            ConnectionTelemetryTest.SERVER)).close(10, 20, "-", null);
                }
                bootstrap.release();
            } finally {
                ztunnel.close();
            }
            lost = ztunnel.metric("ztunnel_connection_closes_lost_total");

            // events the sender took while Kafka was held may have failed (counted lost); the kept ones went
            Set<String> closed = closedConnections(node, connections - (int) lost);
            assertThat(closed).as("every CLOSED in Kafka or counted lost (%s lost)", lost)
                    .hasSize(connections - (int) lost);
            assertThat(lost).as("only what the sender took while Kafka was held can fail").isLessThan(connections / 2);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /** Kafka still away at shutdown: no CLOSED can go, and each one is counted lost, kept or taken. */
    @Test
    void closesThatCannotGoAtShutdownAreCountedLost() throws Exception {
        String node = "node-" + UUID.randomUUID();
        int connections = 20;
        Vertx vertx = Vertx.vertx();
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers())) {
            ZtunnelHarness ztunnel = start(vertx, node, "127.0.157.2", bootstrap);
            try {
                ConnectionTelemetry telemetry = ztunnel.ztunnel.telemetry();
                for (int i = 0; i < connections; i++) {
                    telemetry.opened(ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT,
                            ConnectionTelemetryTest.SERVER)).close(10, 20, "-", null);
                }
            } finally {
                ztunnel.close();
            }
            // the publisher's last sends fail on its closed producer, maybe after the launcher stopped waiting
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> ztunnel.metric("ztunnel_connection_closes_lost_total") >= connections);
            assertThat(ztunnel.metric("ztunnel_connection_closes_lost_total")).isEqualTo(connections);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private ZtunnelHarness start(Vertx vertx, String node, String address, HeldBootstrap bootstrap)
            throws Exception {
        int caPort = new TestCa(vertx, "tok").start().toCompletionStage().toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, "workloads: []\n");
        // the progress walk never runs within the test
        return ZtunnelHarness.start(dir, "node", ZtunnelHarness.localNode(node, address, mesh.toString(), caPort,
                token, """
                        kafka: {bootstrapServers: "%s", queueCapacity: 1}
                        telemetry: {progressInterval: 1h}
                        """.formatted(bootstrap.address())), null);
    }

    /** Ids of {@code node}'s connections with a CLOSED in the topic, once at least {@code expected} are there. */
    private Set<String> closedConnections(String node, int expected) throws Exception {
        Set<String> ids = new HashSet<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(new HashMap<String, Object>(kafka.consumerConfig(
                "kept-closes-" + UUID.randomUUID(), ByteArrayDeserializer.class, ByteArrayDeserializer.class)))) {
            c.subscribe(List.of(ConnectionTelemetry.TOPIC));
            // bounded: what the old code lost never comes, so stop waiting after a while and let the assert say it
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (ids.size() < expected && System.nanoTime() < deadline) {
                for (var r : c.poll(Duration.ofMillis(200))) {
                    ConnectionEvent e = ConnectionEvent.parseFrom(r.value());
                    if (e.getConnectionId().startsWith(node + "-") && e.getKind() == ConnectionEvent.Kind.CLOSED) {
                        ids.add(e.getConnectionId());
                    }
                }
            }
            // a last poll: a CLOSED beyond those expected would show
            for (var r : c.poll(Duration.ofMillis(500))) {
                ConnectionEvent e = ConnectionEvent.parseFrom(r.value());
                if (e.getConnectionId().startsWith(node + "-") && e.getKind() == ConnectionEvent.Kind.CLOSED) {
                    ids.add(e.getConnectionId());
                }
            }
        }
        return ids;
    }
}
