package io.jmesh.ztunnel.telemetry;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.LoggerFactory;

/** What the shutdown tests share: a node publishing to a real broker, and reading back the CLOSED events it sent. */
public final class ClosedEvents {

    private ClosedEvents() {
    }

    /**
     * A ztunnel named {@code node} at {@code nodeIp}, publishing to {@code bootstrapServers}, with a test CA, the
     * local workloads {@code (name, ip)} and no progress walk within a test (it would only add PROGRESS events).
     *
     * @param extraConfig more configuration lines, or ""
     */
    static ZtunnelHarness node(Path dir, Vertx vertx, String node, String nodeIp, String bootstrapServers,
            List<List<String>> workloads, String extraConfig) throws Exception {
        int caPort = new TestCa(vertx, "tok").start().toCompletionStage().toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        StringBuilder file = new StringBuilder(workloads.isEmpty() ? "workloads: []\n" : "workloads:\n");
        for (List<String> w : workloads) {
            ConnectionTelemetryNodeTest.workload(file, w.get(0), w.get(1), node);
        }
        Files.writeString(mesh, file.toString());
        return ZtunnelHarness.start(dir, "node", ZtunnelHarness.localNode(node, nodeIp, mesh.toString(), caPort,
                token, """
                        kafka: {bootstrapServers: "%s"}
                        telemetry: {progressInterval: 1h}
                        %s
                        """.formatted(bootstrapServers, extraConfig)), null);
    }

    /**
     * {@code node}'s CLOSED events in the connection topic, once {@code expected} are there or after 20 s (what a
     * defect lost never comes: the caller's assert then says so), plus any that come within another 0.5 s.
     */
    public static List<ConnectionEvent> of(KafkaExtension kafka, String node, int expected) throws Exception {
        List<ConnectionEvent> closed = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(new HashMap<String, Object>(kafka.consumerConfig(
                "closed-events-" + UUID.randomUUID(), ByteArrayDeserializer.class, ByteArrayDeserializer.class)))) {
            c.subscribe(List.of(ConnectionTelemetry.TOPIC));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (closed.size() < expected && System.nanoTime() < deadline) {
                take(c.poll(Duration.ofMillis(200)), node, closed);
            }
            take(c.poll(Duration.ofMillis(500)), node, closed); // one beyond those expected would show
        }
        return closed;
    }

    private static void take(ConsumerRecords<byte[], byte[]> records, String node, List<ConnectionEvent> closed)
            throws Exception {
        for (var r : records) {
            ConnectionEvent e = ConnectionEvent.parseFrom(r.value());
            if (e.getConnectionId().startsWith(node + "-") && e.getKind() == ConnectionEvent.Kind.CLOSED) {
                closed.add(e);
            }
        }
    }

    /** The access log's lines from {@link #start()} to {@link #close()}: what close wrote for each connection. */
    public static final class AccessLog implements AutoCloseable {
        private final Logger logger = (Logger) LoggerFactory.getLogger("access");
        private final ListAppender<ILoggingEvent> lines = new ListAppender<>();

        public AccessLog start() {
            lines.start();
            logger.addAppender(lines);
            return this;
        }

        /** Each "connection complete" line (one per closed connection). */
        public List<ILoggingEvent> complete() {
            return lines.list.stream().filter(l -> l.getFormattedMessage().equals("connection complete")).toList();
        }

        /** {@link #complete()}, each line as its key-values. */
        public List<Map<String, Object>> completeKeyValues() {
            return complete().stream().map(ConnectionTelemetryNodeTest::kv).toList();
        }

        @Override
        public void close() {
            logger.detachAppender(lines);
        }
    }
}
