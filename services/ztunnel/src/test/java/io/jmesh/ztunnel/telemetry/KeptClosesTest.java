package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.core.kafka.testing.FullOnCueSink;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * CLOSED events the publisher's queue had no room for are kept, then offered again: as soon as the publisher has
 * room (its sender asks once it has emptied the queue while the producer can take more), or at shutdown, once more,
 * within the time shutdown gives it; what still cannot go is counted lost. Driven by a producer that is full on cue
 * (a queue of one in front of it), so that nothing depends on a broker's timing.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KeptClosesTest {

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final FullOnCueSink producer = new FullOnCueSink();

    private EventPublisher publisher() {
        return EventPublisher.withSink(new KafkaSettings("test:9092", 1, Duration.ofSeconds(5)), "node-k", registry,
                producer, Duration.ofMillis(20), Duration.ofMillis(1));
    }

    @Test
    void keptClosesGoOutAsSoonAsThePublisherHasRoom() throws Exception {
        try (EventPublisher events = publisher()) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, "node-k");
            int connections = 5;
            closeConnections(telemetry, connections);
            // the queue of one holds the first OPENED; every other event was refused: the OPENED dropped, the
            // CLOSED kept
            assertThat(gauge("ztunnel_connection_closes_kept")).isEqualTo(connections);
            Thread.sleep(200); // the idle sender wakes every 20 ms: it must leave them while the producer is full
            assertThat(gauge("ztunnel_connection_closes_kept")).isEqualTo(connections);

            producer.full(false); // room again, and no progress walk, no publish
            await().atMost(Duration.ofSeconds(10)).until(() -> closedSent() == connections);
            assertThat(gauge("ztunnel_connection_closes_kept")).isZero();
            assertThat(counter("ztunnel_connection_closes_lost")).isZero();
            assertThat(counter("mesh_events_dropped")).as("only the refused OPENED events")
                    .isEqualTo(connections - 1);
        }
    }

    @Test
    void shutdownOffersKeptClosesOnceMoreAndCountsWhatCannotGo() throws Exception {
        try (EventPublisher events = publisher()) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, "node-k");
            closeConnections(telemetry, 3);
            assertThat(gauge("ztunnel_connection_closes_kept")).isEqualTo(3);

            // shutdown's last offer waits for room; the producer frees up while it waits
            CompletableFuture<Integer> stopped = CompletableFuture.supplyAsync(
                    () -> telemetry.stop(Duration.ofSeconds(10)));
            Thread.sleep(100);
            producer.full(false);
            // from the stop on, the kept events are shutdown's: the sender, with room again, leaves them to it
            assertThat(stopped.get(20, TimeUnit.SECONDS)).as("kept CLOSED events stop() handed over").isEqualTo(3);
            await().atMost(Duration.ofSeconds(10)).until(() -> closedSent() == 3);
            assertThat(counter("ztunnel_connection_closes_lost")).isZero();
        }
    }

    @Test
    void keptClosesThatCannotGoByTheEndOfShutdownAreCountedLost() throws Exception {
        try (EventPublisher events = publisher()) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, "node-k");
            closeConnections(telemetry, 3);
            assertThat(gauge("ztunnel_connection_closes_kept")).isEqualTo(3);

            assertThat(telemetry.stop(Duration.ofMillis(200))).as("no room came").isZero();
            assertThat(gauge("ztunnel_connection_closes_kept")).isZero();
            assertThat(counter("ztunnel_connection_closes_lost")).isEqualTo(3);
            // from now on a refused CLOSED is lost at once
            closeConnections(telemetry, 1);
            assertThat(gauge("ztunnel_connection_closes_kept")).isZero();
            assertThat(counter("ztunnel_connection_closes_lost")).isEqualTo(4);
        }
    }

    /**
     * Kafka behind for good: OPENED events give way to CLOSED ones, which take the queue's last places (an OPENED's
     * loss its CLOSED makes good, flagged {@code opened_dropped}; a CLOSED's loss nothing does).
     */
    @Test
    void whenTheQueueFillsOpenedEventsGiveWayToClosedOnes() throws Exception {
        try (EventPublisher events = EventPublisher.withSink(new KafkaSettings("test:9092", 16,
                Duration.ofSeconds(5)), "node-k", registry, producer, Duration.ofMillis(20), Duration.ofMillis(1))) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, "node-k");
            java.util.List<ConnectionTelemetry.Tracked> open = new java.util.ArrayList<>();
            for (int i = 0; i < 16; i++) {
                open.add(telemetry.opened(ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT,
                        ConnectionTelemetryTest.SERVER)));
            }
            assertThat(events.queued()).as("OPENED events stop at seven eighths of the queue").isEqualTo(14);
            assertThat(counter("mesh_events_dropped")).isEqualTo(2);
            for (ConnectionTelemetry.Tracked t : open.subList(0, 3)) {
                t.close(10, 20, "-", null);
            }
            assertThat(events.queued()).as("two CLOSED events in the last places").isEqualTo(16);
            assertThat(gauge("ztunnel_connection_closes_kept")).as("the third kept").isEqualTo(1);

            producer.full(false);
            await().atMost(Duration.ofSeconds(10)).until(() -> closedSent() == 3);
            java.util.List<ConnectionEvent> closed = new java.util.ArrayList<>();
            for (byte[] value : producer.taken()) {
                ConnectionEvent e = ConnectionEvent.parseFrom(value);
                if (e.getKind() == ConnectionEvent.Kind.CLOSED) {
                    closed.add(e);
                }
            }
            assertThat(closed).as("none of their OPENED events was dropped").noneMatch(ConnectionEvent::getOpenedDropped);
            assertThat(counter("ztunnel_connection_closes_lost")).isZero();
        }
    }

    private static void closeConnections(ConnectionTelemetry telemetry, int n) {
        for (int i = 0; i < n; i++) {
            telemetry.opened(ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT,
                    ConnectionTelemetryTest.SERVER)).close(10, 20, "-", null);
        }
    }

    private long closedSent() throws Exception {
        long closed = 0;
        for (byte[] value : producer.taken()) {
            if (ConnectionEvent.parseFrom(value).getKind() == ConnectionEvent.Kind.CLOSED) {
                closed++;
            }
        }
        return closed;
    }

    private double gauge(String name) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((GaugeSnapshot) s).getDataPoints().stream())
                .mapToDouble(GaugeSnapshot.GaugeDataPointSnapshot::getValue).sum();
    }

    private double counter(String name) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }
}
