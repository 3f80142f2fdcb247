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
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Connection events the bounded publisher dropped (its queue full while Kafka could not be reached): a dropped
 * OPENED is named by its connection's CLOSED, so that telemetry counts the connection opened and does not end
 * another open connection of its series with it. Real broker, reached through a bootstrap address that holds the
 * producer's metadata until released ({@link HeldBootstrap}), so that the queue of one fills behind it.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DroppedConnectionEventsTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    final String node = "node-" + UUID.randomUUID();
    final PrometheusRegistry registry = new PrometheusRegistry();

    @BeforeAll
    static void topic() {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
    }

    @Test
    void theCloseOfAConnectionWhoseOpenedWasDroppedSaysSo() throws Exception {
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers());
                EventPublisher events = EventPublisher.create(new KafkaSettings(bootstrap.address(), 1,
                        Duration.ofSeconds(30)), node, registry)) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, node);
            // fill the queue of one behind a sender waiting for metadata, then open: the OPENED is dropped. The
            // sender gives a send up after a second and takes the next, so try again until the drop was ours.
            ConnectionTelemetry.Tracked lost = null;
            int sequence = 0;
            for (int attempt = 0; attempt < 50 && lost == null; attempt++) {
                fill(events);
                double before = dropped();
                ConnectionTelemetry.Tracked t = telemetry.opened(ConnectionTelemetryTest.outbound(
                        ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
                sequence++;
                if (dropped() > before) {
                    lost = t;
                } else {
                    t.close(0, 0, "-", null);
                }
            }
            assertThat(lost).as("an OPENED dropped by the full queue").isNotNull();
            String lostId = node + "-" + sequence;

            bootstrap.release();
            await().atMost(Duration.ofSeconds(60)).until(() -> events.queued() == 0);
            ConnectionTelemetry.Tracked kept = telemetry.opened(ConnectionTelemetryTest.outbound(
                    ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
            String keptId = node + "-" + (sequence + 1);
            await().atMost(Duration.ofSeconds(60)).until(() -> events.queued() == 0);
            lost.close(10, 20, "-", null);
            await().atMost(Duration.ofSeconds(60)).until(() -> events.queued() == 0);
            kept.close(30, 40, "-", null);

            List<ConnectionEvent> seen = consume(lostId, keptId);
            assertThat(seen).filteredOn(e -> e.getConnectionId().equals(lostId))
                    .as("the lost OPENED never came; its CLOSED did and says so")
                    .extracting(ConnectionEvent::getKind, ConnectionEvent::getOpenedDropped)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(ConnectionEvent.Kind.CLOSED, true));
            assertThat(seen).filteredOn(e -> e.getConnectionId().equals(keptId))
                    .extracting(ConnectionEvent::getKind, ConnectionEvent::getOpenedDropped)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(ConnectionEvent.Kind.OPENED, false),
                            org.assertj.core.groups.Tuple.tuple(ConnectionEvent.Kind.CLOSED, false));
        }
    }

    /**
     * A CLOSED the full publisher dropped is kept (a bounded number of them) and published as soon as the publisher
     * has room again, with no progress walk (an hour away in a deployment that sets it so): without it the
     * connection's close, its totals and the end of its open count were lost for good.
     */
    @Test
    void aKeptCloseGoesOutOnceThePublisherHasRoom() throws Exception {
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers());
                EventPublisher events = EventPublisher.create(new KafkaSettings(bootstrap.address(), 1,
                        Duration.ofSeconds(30)), node, registry)) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, node);
            // fill the queue of one behind a sender waiting for metadata, then close: the CLOSED is dropped (the
            // sender gives a send up after a second and takes the next: try again until the drop was ours)
            String id = null;
            for (int attempt = 1; attempt <= 50 && id == null; attempt++) {
                ConnectionTelemetry.Tracked t = telemetry.opened(ConnectionTelemetryTest.outbound(
                        ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
                fill(events);
                t.close(10, 20, "-", null);
                if (gauge("ztunnel_connection_closes_kept") > 0) {
                    id = node + "-" + attempt;
                }
            }
            assertThat(id).as("a CLOSED refused by the full queue, kept").isNotNull();

            bootstrap.release(); // and nothing else: no walk, no other event
            await("the kept CLOSED offered again").atMost(Duration.ofSeconds(60))
                    .until(() -> gauge("ztunnel_connection_closes_kept") == 0);

            String closedId = id;
            assertThat(consume(closedId)).filteredOn(e -> e.getConnectionId().equals(closedId)
                    && e.getKind() == ConnectionEvent.Kind.CLOSED).singleElement().satisfies(e -> assertThat(new long[] {e.getBytesReceived(), e.getBytesSent()})
                            .containsExactly(10, 20));
        }
    }

    /**
     * An OPENED the publisher took but Kafka then refused ({@code send_failed}: here its metadata never came) is
     * flagged on its CLOSED as one the queue dropped: telemetry then counts the connection opened at its close.
     */
    @Test
    void theCloseOfAConnectionWhoseOpenedKafkaRefusedSaysSo() throws Exception {
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers());
                EventPublisher events = EventPublisher.create(new KafkaSettings(bootstrap.address(), 100,
                        Duration.ofSeconds(30)), node, registry)) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, node);
            ConnectionTelemetry.Tracked t = telemetry.opened(ConnectionTelemetryTest.outbound(
                    ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
            assertThat(dropped()).as("the publisher took the OPENED").isZero();
            await("the OPENED's send failed").atMost(Duration.ofSeconds(60))
                    .until(() -> dropped("send_failed") > 0);
            bootstrap.release();
            t.close(10, 20, "-", null);

            String id = node + "-1";
            assertThat(consume(id)).filteredOn(e -> e.getConnectionId().equals(id))
                    .extracting(ConnectionEvent::getKind, ConnectionEvent::getOpenedDropped)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(ConnectionEvent.Kind.CLOSED, true));
        }
    }

    /**
     * A CLOSED the full publisher refused, kept and sent by the next walk, was not lost: mesh_events_dropped_total
     * does not count it (an operator reading it would take it for lost data); ztunnel_connection_closes_kept shows
     * it while it waits.
     */
    @Test
    void aRefusedCloseSentLaterIsNotCountedDropped() throws Exception {
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers());
                EventPublisher events = EventPublisher.create(new KafkaSettings(bootstrap.address(), 5,
                        Duration.ofSeconds(30)), node, registry)) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, node);
            int connections = 5;
            List<ConnectionTelemetry.Tracked> open = new ArrayList<>();
            for (int i = 0; i < connections; i++) {
                open.add(telemetry.opened(ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT,
                        ConnectionTelemetryTest.SERVER)));
            }
            assertThat(dropped()).as("the publisher took every OPENED").isZero();
            double keptMax = 0;
            for (ConnectionTelemetry.Tracked t : open) {
                fill(events); // full at each close: the sender frees a slot when it gives a send up
                t.close(10, 20, "-", null);
                keptMax = Math.max(keptMax, gauge("ztunnel_connection_closes_kept"));
            }
            bootstrap.release();
            await().atMost(Duration.ofSeconds(60)).until(() -> events.queued() == 0);
            telemetry.reportProgress();
            // events the sender took while Kafka was held failed: those connections' OPENED or CLOSED
            String[] ids = new String[connections];
            for (int i = 0; i < connections; i++) {
                ids[i] = node + "-" + (i + 1);
            }
            double lost = gauge("ztunnel_connection_closes_lost");
            List<ConnectionEvent> seen = consume(connections - (int) lost, ids);

            assertThat(dropped()).as("CLOSED events refused by the full queue, all sent later").isZero();
            assertThat(keptMax).as("kept while the queue was full").isPositive();
            assertThat(gauge("ztunnel_connection_closes_kept")).isZero();
            assertThat(seen).filteredOn(e -> e.getKind() == ConnectionEvent.Kind.CLOSED).hasSizeGreaterThanOrEqualTo(
                    connections - (int) lost);
        }
    }

    /**
     * A PROGRESS the publisher took but Kafka refused gives its bytes back while its connection is open: the next
     * PROGRESS carries them, and what telemetry counts (the PROGRESS events in Kafka plus the CLOSED's total minus
     * what it says they carried) is the connection's total.
     */
    @Test
    void theBytesOfAProgressKafkaRefusedComeWithTheNextOne() throws Exception {
        try (HeldBootstrap bootstrap = new HeldBootstrap(kafka.bootstrapServers());
                EventPublisher events = EventPublisher.create(new KafkaSettings(bootstrap.address(), 100,
                        Duration.ofSeconds(30)), node, registry)) {
            ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, events, true, node);
            java.util.concurrent.atomic.AtomicLong in = new java.util.concurrent.atomic.AtomicLong();
            ConnectionTelemetry.Tracked t = telemetry.opened(ConnectionTelemetryTest.outbound(
                    ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER));
            t.relayedBy(in::get, () -> 0);
            in.addAndGet(100);
            assertThat(telemetry.reportProgress()).as("the publisher took the PROGRESS").isEqualTo(1);
            await("the OPENED's and the PROGRESS's sends failed").atMost(Duration.ofSeconds(60))
                    .until(() -> dropped("send_failed") >= 2);
            bootstrap.release();
            in.addAndGet(5);
            // a walk whose claim met the give-back of the failed report's bytes publishes nothing: the next does
            await().atMost(Duration.ofSeconds(10)).until(() -> telemetry.reportProgress() == 1);
            await().atMost(Duration.ofSeconds(60)).until(() -> events.queued() == 0);
            t.close(in.get(), 0, "-", null);

            String id = node + "-1";
            List<ConnectionEvent> seen = consume(id);
            long progress = seen.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.PROGRESS)
                    .mapToLong(ConnectionEvent::getBytesReceived).sum();
            ConnectionEvent closed = seen.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED)
                    .findFirst().orElseThrow();
            assertThat(progress + closed.getBytesReceived() - closed.getReportedBytesReceived())
                    .as("bytes telemetry counts: PROGRESS %s, CLOSED total %s of which reported %s", progress,
                            closed.getBytesReceived(), closed.getReportedBytesReceived())
                    .isEqualTo(105);
        }
    }

    /** A gauge's or counter's value in this test's registry (a counter by its name without _total); 0 if absent. */
    private double gauge(String name) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name))
                .flatMap(s -> s.getDataPoints().stream())
                .mapToDouble(d -> d instanceof CounterSnapshot.CounterDataPointSnapshot c ? c.getValue()
                        : ((io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot) d).getValue())
                .sum();
    }

    /** Events of {@link ConnectionTelemetry#TOPIC} dropped for {@code reason}. */
    private double dropped(String reason) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals("mesh_events_dropped"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason"))
                        && ConnectionTelemetry.TOPIC.equals(d.getLabels().get("topic")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    /** Publishes filler events until the publisher's queue refuses one: it is full now. */
    private static void fill(EventPublisher events) {
        for (int i = 0; i < 1000 && events.publish("filler", new byte[0], new byte[1]); i++) {
            Thread.onSpinWait();
        }
    }

    /** Events of {@link ConnectionTelemetry#TOPIC} the queue had no room for. */
    private double dropped() {
        return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals("mesh_events_dropped"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> "queue_full".equals(d.getLabels().get("reason"))
                        && ConnectionTelemetry.TOPIC.equals(d.getLabels().get("topic")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    /** This test's events of {@code connectionIds}, in topic order, once a CLOSED of each is in. */
    private List<ConnectionEvent> consume(String... connectionIds) throws Exception {
        return consume(connectionIds.length, connectionIds);
    }

    /** This test's events of {@code connectionIds}, in topic order, once {@code closes} of them have a CLOSED in. */
    private List<ConnectionEvent> consume(int closes, String... connectionIds) throws Exception {
        List<String> ids = List.of(connectionIds);
        List<ConnectionEvent> seen = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(new HashMap<String, Object>(kafka.consumerConfig(
                "dropped-events-" + UUID.randomUUID(), ByteArrayDeserializer.class, ByteArrayDeserializer.class)))) {
            c.subscribe(List.of(ConnectionTelemetry.TOPIC));
            await("a CLOSED of each of " + ids).atMost(Duration.ofSeconds(60)).until(() -> {
                for (var r : c.poll(Duration.ofMillis(200))) {
                    ConnectionEvent e = ConnectionEvent.parseFrom(r.value());
                    if (ids.contains(e.getConnectionId())) {
                        seen.add(e);
                    }
                }
                return seen.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED).count() >= closes;
            });
        }
        return seen;
    }
}
