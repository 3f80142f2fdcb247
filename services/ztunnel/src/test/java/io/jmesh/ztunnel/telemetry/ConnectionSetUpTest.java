package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@link ConnectionTelemetry.SetUp}: a connection registered for shutdown from before its attempt, which the connection
 * it becomes keeps until its close, and how shutdown's end of it meets the relay's start.
 */
class ConnectionSetUpTest {

    final ConnectionTelemetry telemetry = new ConnectionTelemetry(new PrometheusRegistry(), null, false, "node-a");
    final ListAppender<ILoggingEvent> lines = new ListAppender<>();
    final Logger access = (Logger) LoggerFactory.getLogger("access");

    @BeforeEach
    void listen() {
        lines.start();
        access.addAppender(lines);
    }

    @AfterEach
    void unlisten() {
        access.detachAppender(lines);
    }

    static ConnectionInfo info() {
        return ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT, ConnectionTelemetryTest.SERVER);
    }

    /** The fields of the "connection complete" lines. */
    List<Map<String, Object>> completed() {
        return lines.list.stream().filter(l -> l.getFormattedMessage().equals("connection complete"))
                .map(ConnectionTelemetryNodeTest::kv).toList();
    }

    @Test
    void anAttemptShutdownEndedClosesAsClosedFromDrainWhateverItsFailureSaysThenLeaves() {
        AtomicInteger ends = new AtomicInteger();
        ConnectionTelemetry.SetUp setUp = telemetry.settingUp(ends::incrementAndGet);
        assertThat(telemetry.openConnections()).isEqualTo(1);
        assertThat(telemetry.relayedConnections()).as("no relay yet").isZero();
        assertThat(telemetry.reportProgress()).as("nothing to report of a set-up").isZero();

        assertThat(telemetry.endOpen()).isEqualTo(1);
        assertThat(telemetry.endOpen()).as("ended once").isZero();
        assertThat(ends).hasValue(1);
        assertThat(setUp.endedAtShutdown()).isTrue();
        assertThat(telemetry.openConnections()).as("until its CLOSED is handed over").isEqualTo(1);

        // the attempt fails as the end made it fail (here as the pool's close would)
        telemetry.opened(info(), System.nanoTime(), setUp).close(0, 0, ResponseFlags.CONNECT,
                "connection pool closed");
        assertThat(completed()).singleElement().satisfies(l -> {
            assertThat(l.get("error")).isEqualTo(ConnectionTelemetry.CLOSED_FROM_DRAIN);
            assertThat(l.get("response_flags")).isEqualTo("-");
        });
        assertThat(telemetry.openConnections()).isZero();
    }

    @Test
    void aRelayReplacesItsSetUpsEndAndKeepsItsEntry() {
        AtomicInteger setUpEnds = new AtomicInteger();
        AtomicInteger relayEnds = new AtomicInteger();
        ConnectionTelemetry.SetUp setUp = telemetry.settingUp(setUpEnds::incrementAndGet);
        ConnectionTelemetry.Tracked t = telemetry.opened(info(), System.nanoTime(), setUp);
        t.relayedBy(() -> 0, () -> 0, relayEnds::incrementAndGet);
        assertThat(telemetry.openConnections()).as("one entry from set-up to close").isEqualTo(1);
        assertThat(telemetry.relayedConnections()).isEqualTo(1);

        telemetry.endOpen();
        assertThat(setUpEnds).hasValue(0);
        assertThat(relayEnds).hasValue(1);
        t.close(0, 0, "CONNECT", "stream reset by peer: CANCEL");
        assertThat(completed()).singleElement()
                .satisfies(l -> assertThat(l.get("error")).isEqualTo(ConnectionTelemetry.CLOSED_FROM_DRAIN));
        assertThat(telemetry.openConnections()).isZero();
    }

    @Test
    void aRelayStartingAfterShutdownEndedItsSetUpIsEndedAtOnce() {
        ConnectionTelemetry.SetUp setUp = telemetry.settingUp(() -> {});
        ConnectionTelemetry.Tracked t = telemetry.opened(info(), System.nanoTime(), setUp);
        telemetry.endOpen(); // its end closed the sockets, on their loops: the relay may start before that runs
        AtomicInteger relayEnds = new AtomicInteger();
        t.relayedBy(() -> 0, () -> 0, relayEnds::incrementAndGet);
        assertThat(relayEnds).hasValue(1);
    }

    @Test
    void aSetUpEndedBeforeItHadAnEndGetsTheOneGivenLater() {
        ConnectionTelemetry.SetUp setUp = telemetry.settingUp(null);
        assertThat(telemetry.endOpen()).isEqualTo(1);
        AtomicInteger ends = new AtomicInteger();
        setUp.endWith(ends::incrementAndGet);
        assertThat(ends).hasValue(1);
    }

    @Test
    void anAbandonedSetUpLeavesAndAConnectionWithoutOneJoinsWhenItsRelayStarts() {
        telemetry.settingUp(() -> {}).abandon();
        assertThat(telemetry.openConnections()).isZero();

        ConnectionTelemetry.Tracked t = telemetry.opened(info());
        assertThat(telemetry.openConnections()).as("nothing to end before its relay").isZero();
        AtomicInteger relayEnds = new AtomicInteger();
        t.relayedBy(() -> 0, () -> 0, relayEnds::incrementAndGet);
        assertThat(telemetry.openConnections()).isEqualTo(1);
        telemetry.endOpen();
        assertThat(relayEnds).hasValue(1);
        t.close(0, 0, "-", null);
        assertThat(telemetry.openConnections()).isZero();
    }

    @Test
    void aConnectionClosedBeforeItsRelayWasAddedDoesNotStay() {
        ConnectionTelemetry.Tracked t = telemetry.opened(info());
        t.close(0, 0, "-", null);
        t.relayedBy(() -> 0, () -> 0, () -> {});
        assertThat(telemetry.openConnections()).isZero();
    }
}
