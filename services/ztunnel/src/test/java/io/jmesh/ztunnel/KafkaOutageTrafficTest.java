package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.vertx.core.Vertx;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka is on the side of the data path, never in it: with the broker gone, every connection through ztunnel
 * still works, each of its events is accounted for (published, dropped and counted, or a CLOSED kept in the bounded
 * store until the publisher has room, which the gauge shows), and once the broker is back events flow again.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KafkaOutageTrafficTest {

    @RegisterExtension
    static KafkaExtension kafka = new KafkaExtension();

    private static final String CLIENT_IP = "127.0.91.11";
    private static final String ECHO_IP = "127.0.91.12";
    /** OPENED and CLOSED, from the source side and from the destination side. */
    private static final int EVENTS_PER_CONNECTION = 4;

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
    void trafficIsUnaffectedAndEveryEventIsPublishedOrCountedAsDropped() throws Exception {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        int echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path mesh = setup.clientAndEcho("node-k", CLIENT_IP, ECHO_IP);
        node = ZtunnelHarness.start(dir, "node-k", setup.localNode("node-k", "127.0.91.1", mesh,
                "kafka: {bootstrapServers: \"" + kafka.bootstrapServers() + "\", queueCapacity: 16, deliveryTimeout: 2s}\n"
                        // no PROGRESS within the test: the events of each connection are exactly its four
                        + "telemetry: {progressInterval: 1h}"),
                null);
        await().atMost(Duration.ofSeconds(30)).until(node::ready);

        echo(echoPort);
        await().atMost(Duration.ofSeconds(30)).until(() -> published() == EVENTS_PER_CONNECTION);

        kafka.broker().close();   // the broker is down
        // every connection works while the broker is away; several clients at once, as an application would
        int threads = 8;
        int perThread = 5;
        ExecutorService clients = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(clients.submit(() -> {
                    for (int i = 0; i < perThread; i++) {
                        echo(echoPort);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            clients.shutdownNow();
        }
        // a CLOSED the publisher's queue had no room for is kept until the queue has room again (or the next
        // progress walk, an hour away here), neither published nor dropped meanwhile: the gauge shows it
        double expected = EVENTS_PER_CONNECTION * (1 + threads * perThread);
        try {
            await().atMost(Duration.ofSeconds(90)).alias("every event published, dropped and counted, or kept")
                    .until(() -> published() + dropped() + kept() == expected);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("expected " + expected + " events accounted for; " + accounting(), e);
        }
        assertThat(dropped()).as("events lost to the outage are counted").isPositive();

        kafka.broker().start();      // same ports and data: the producer reconnects by itself
        double before = published();
        await().atMost(Duration.ofSeconds(60)).alias("events flow again").until(() -> {
            echo(echoPort);
            return published() > before;
        });
    }

    private void echo(int echoPort) throws Exception {
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            s.getOutputStream().write("12345".getBytes());
            s.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).hasSize(5);
        }
    }

    private double published() {
        return sum("mesh_events_published", null);
    }

    private double dropped() {
        return sum("mesh_events_dropped", null);
    }

    /** Every counter the accounting reads, for a failure's message. */
    private String accounting() {
        return "published " + published() + ", dropped " + dropped() + " (queue_full " + sum("mesh_events_dropped",
                "queue_full") + ", send_failed " + sum("mesh_events_dropped", "send_failed") + "), kept " + kept()
                + ", queued " + gauge("mesh_events_queued") + ", closes lost "
                + sum("ztunnel_connection_closes_lost", null);
    }

    /** CLOSED events the publisher had no room for, kept to be offered again. */
    private double kept() {
        return gauge("ztunnel_connection_closes_kept");
    }

    private double gauge(String name) {
        return node.running.context().metrics().scrape().stream()
                .filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((GaugeSnapshot) s).getDataPoints().stream())
                .mapToDouble(GaugeSnapshot.GaugeDataPointSnapshot::getValue).sum();
    }

    private double sum(String name, String reason) {
        return node.running.context().metrics().scrape().stream()
                .filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason == null || reason.equals(d.getLabels().get("reason")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }
}
