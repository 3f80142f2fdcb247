package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * PROGRESS events of open connections ({@link ConnectionTelemetry#reportProgress()}, called here by hand instead
 * of by the timer), published through a real {@link EventPublisher} to a real broker: only connections that moved
 * bytes are reported, each report carries the bytes since the last one, and those plus the close's remainder are
 * the totals, also when reports race the closes.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ConnectionProgressTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    /** Each test's own node name: its connection ids start with it, which keeps its events apart in the topic. */
    final String node = "node-" + UUID.randomUUID();
    final PrometheusRegistry registry = new PrometheusRegistry();
    EventPublisher events;

    @BeforeAll
    static void topic() {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
    }

    @AfterEach
    void close() {
        if (events != null) {
            events.close();
        }
    }

    ConnectionTelemetry telemetry(String bootstrap, int queueCapacity) {
        events = EventPublisher.create(new KafkaSettings(bootstrap, queueCapacity, Duration.ofSeconds(2)), node,
                registry);
        return new ConnectionTelemetry(registry, events, true, node);
    }

    @Test
    void onlyConnectionsThatMovedBytesAreReportedAndTheReportsPlusTheCloseAreTheTotals() throws Exception {
        ConnectionTelemetry telemetry = telemetry(kafka.bootstrapServers(), 1000);
        AtomicLong busyIn = new AtomicLong();
        AtomicLong busyOut = new AtomicLong();
        ConnectionTelemetry.Tracked busy = telemetry.opened(ConnectionTelemetryTest.outbound(
                ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
        busy.relayedBy(busyIn::get, busyOut::get);
        ConnectionTelemetry.Tracked idle = telemetry.opened(ConnectionTelemetryTest.outbound(
                ConnectionTelemetryTest.SERVER, ConnectionTelemetryTest.CLIENT));
        idle.relayedBy(() -> 0, () -> 0);

        busyIn.addAndGet(100);
        busyOut.addAndGet(1000);
        assertThat(telemetry.reportProgress()).as("the busy connection only").isEqualTo(1);
        assertThat(telemetry.reportProgress()).as("nothing moved since").isZero();
        busyIn.addAndGet(20);
        assertThat(telemetry.reportProgress()).as("one direction moved").isEqualTo(1);
        busyIn.addAndGet(3);
        busyOut.addAndGet(4);
        busy.close(busyIn.get(), busyOut.get(), "-", null);
        assertThat(telemetry.reportProgress()).as("closed connections are not reported").isZero();
        idle.close(0, 0, "-", null);
        assertThat(telemetry.relayedConnections()).isZero();

        Map<String, List<ConnectionEvent>> byConnection = consume(2);
        List<ConnectionEvent> b = byConnection.get(node + "-1");
        assertThat(b).extracting(ConnectionEvent::getKind).containsExactly(ConnectionEvent.Kind.OPENED,
                ConnectionEvent.Kind.PROGRESS, ConnectionEvent.Kind.PROGRESS, ConnectionEvent.Kind.CLOSED);
        // bytes_received is source to destination, bytes_sent back: the totals' directions
        assertThat(b).extracting(ConnectionEvent::getBytesReceived, ConnectionEvent::getBytesSent,
                ConnectionEvent::getReportedBytesReceived, ConnectionEvent::getReportedBytesSent)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(0L, 0L, 0L, 0L),
                        org.assertj.core.groups.Tuple.tuple(100L, 1000L, 0L, 0L),
                        org.assertj.core.groups.Tuple.tuple(20L, 0L, 100L, 1000L),
                        org.assertj.core.groups.Tuple.tuple(123L, 1004L, 120L, 1000L));
        assertThat(b.get(1).getResponseFlags()).isEmpty();
        assertThat(byConnection.get(node + "-2")).extracting(ConnectionEvent::getKind)
                .containsExactly(ConnectionEvent.Kind.OPENED, ConnectionEvent.Kind.CLOSED);
    }

    /**
     * The event describes a source known only from its baggage as Istio's labels do (its with_derived_source): app
     * is the workload name, where a discovered source's is its canonical service; the telemetry service labels
     * source_app from it.
     */
    @Test
    void aSourceKnownOnlyFromItsBaggageHasItsWorkloadNameAsAppInTheEvent() throws Exception {
        ConnectionTelemetry telemetry = telemetry(kafka.bootstrapServers(), 1000);
        io.jmesh.core.identity.SpiffeId sleep = io.jmesh.core.identity.SpiffeId.parse(
                "spiffe://cluster.local/ns/default/sa/sleep");
        io.jmesh.proto.istio.workload.Workload derived = io.jmesh.ztunnel.discovery.Workloads.fromBaggage(
                "k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep-svc,service.version=v1", sleep);
        // inbound, where such a source is met: the peer's address is no workload of its identity
        telemetry.opened(new ConnectionInfo(false, derived, ConnectionTelemetryTest.SERVER, sleep, null, null,
                new java.net.InetSocketAddress("10.0.0.9", 40000), new java.net.InetSocketAddress("10.0.0.2", 15008),
                "10.0.0.2:80", true)).close(0, 0, "-", null);
        List<ConnectionEvent> events = consume(1).get(node + "-1");
        assertThat(events).extracting(e -> e.getSource().getApp()).containsOnly("sleep");
        assertThat(events).extracting(e -> e.getSource().getCanonicalService()).containsOnly("sleep-svc");
        assertThat(events).extracting(e -> e.getDestination().getApp())
                .containsOnly(ConnectionTelemetryTest.SERVER.getCanonicalName());
    }

    /**
     * The progress task and the closes run on different threads: whatever the interleaving, a connection's
     * PROGRESS events carry exactly what its CLOSED says they carried, and never more than its totals.
     */
    @Test
    void reportsRacingClosesNeverCarryTheSameBytesTwice() throws Exception {
        ConnectionTelemetry telemetry = telemetry(kafka.bootstrapServers(), 100_000);
        int connections = 300;
        AtomicBoolean done = new AtomicBoolean();
        Thread reporter = new Thread(() -> {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2); // bounded by time, not by calls:
            while (!done.get() && System.nanoTime() < deadline) { // the waits below need it still running
                telemetry.reportProgress();
            }
        });
        reporter.start();
        for (int i = 0; i < connections; i++) {
            AtomicLong in = new AtomicLong();
            AtomicLong out = new AtomicLong();
            ConnectionTelemetry.Tracked t = telemetry.opened(ConnectionTelemetryTest.outbound(
                    ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
            t.relayedBy(in::get, out::get);
            for (int j = 0; j < 50; j++) {
                in.incrementAndGet();
                out.addAndGet(2);
                Thread.onSpinWait();
                if (i % 50 == 0 && j == 25) {
                    // a loaded machine may not schedule the reporter during a whole fast connection: every 50th
                    // waits for its report halfway, so reports are known to have raced some closes
                    await().atMost(Duration.ofSeconds(30)).until(() -> t.reportedFromSource() > 0);
                }
            }
            t.close(in.get(), out.get(), "-", null);
        }
        done.set(true);
        reporter.join();

        Map<String, List<ConnectionEvent>> byConnection = consume(connections);
        long progressEvents = 0;
        for (List<ConnectionEvent> c : byConnection.values()) {
            ConnectionEvent closed = c.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED)
                    .findFirst().orElseThrow();
            List<ConnectionEvent> progress = c.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.PROGRESS)
                    .toList();
            progressEvents += progress.size();
            assertThat(new long[] {closed.getBytesReceived(), closed.getBytesSent()}).containsExactly(50, 100);
            assertThat(progress.stream().mapToLong(ConnectionEvent::getBytesReceived).sum())
                    .isEqualTo(closed.getReportedBytesReceived());
            assertThat(progress.stream().mapToLong(ConnectionEvent::getBytesSent).sum())
                    .isEqualTo(closed.getReportedBytesSent());
        }
        assertThat(progressEvents).as("the reporter ran while the connections moved bytes").isPositive();
    }

    /**
     * A publisher that cannot keep up (its Kafka away, a queue of one): reports are dropped and counted, never
     * wait, and a dropped report's bytes are not taken as reported: they go with a later report or the close.
     */
    @Test
    void aFullPublisherDropsReportsAndCountsThemWithoutBlocking() {
        // nothing listens on port 9 (discard) of loopback here: the sender waits on metadata, the queue fills
        ConnectionTelemetry telemetry = telemetry("127.0.0.1:9", 1);
        AtomicLong in = new AtomicLong();
        ConnectionTelemetry.Tracked t = telemetry.opened(ConnectionTelemetryTest.outbound(
                ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
        t.relayedBy(in::get, () -> 0);
        for (int i = 0; i < 1000 && dropped("queue_full") == 0; i++) {
            in.incrementAndGet();
            telemetry.reportProgress();
        }
        assertThat(dropped("queue_full")).isPositive();
        assertThat(t.reportedFromSource()).as("what the reports the publisher took carried")
                .isLessThan(in.get());
        assertThat(telemetry.relayedConnections()).isEqualTo(1);
        t.close(in.get(), 0, "-", null);
        assertThat(telemetry.relayedConnections()).isZero();
    }

    private double dropped(String reason) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals("mesh_events_dropped"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    /** This test's events by connection, in topic order, once {@code closes} CLOSED events are in. */
    private Map<String, List<ConnectionEvent>> consume(int closes) throws Exception {
        List<ConnectionEvent> seen = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(new HashMap<String, Object>(kafka.consumerConfig(
                "progress-" + UUID.randomUUID(), ByteArrayDeserializer.class, ByteArrayDeserializer.class)))) {
            c.subscribe(List.of(ConnectionTelemetry.TOPIC));
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                for (var r : c.poll(Duration.ofMillis(200))) {
                    ConnectionEvent e = ConnectionEvent.parseFrom(r.value());
                    if (e.getConnectionId().startsWith(node + "-")) {
                        seen.add(e);
                    }
                }
                return seen.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED).count() >= closes;
            });
        }
        return seen.stream().collect(Collectors.groupingBy(ConnectionEvent::getConnectionId,
                java.util.LinkedHashMap::new, Collectors.toList()));
    }
}
