package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.jmesh.telemetry.aggregate.TcpTotals;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A long-lived connection's bytes reach the Istio series while it is open (ztunnel's PROGRESS events), not in one
 * jump at its close; the close then adds only what the PROGRESS events did not carry, also across a restart of the
 * replica between them (the PROGRESS bytes are in its checkpoint, counted once).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ProgressEventsTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void theBytesOfAnOpenConnectionCountAsTheyAreReportedAndTheCloseAddsTheRemainder() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("progress"),
                "a");
        MutableClock clock = new MutableClock(Instant.parse("2026-12-05T12:00:00Z"));
        String source = Events.PRODUCTPAGE.getUid();
        try (EventProducer p = new EventProducer(kafka)) {
            try (TelemetryInstance a = TelemetryInstance.start(cfg, c -> c, clock)) {
                p.send(cfg.connectionTopic(), source, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews").toBuilder().setConnectionId("node-a-1").build());
                p.send(cfg.connectionTopic(), source, Events.progress(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", "node-a-1", 10, 20, 0, 0));
                p.send(cfg.connectionTopic(), source, Events.progress(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", "node-a-1", 5, 7, 10, 20));
                // same key, so same partition and after the PROGRESS events: once it is counted, so are they
                p.send(cfg.connectionTopic(), source, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.RATINGS, "ratings"));
                await().atMost(WAIT).until(() -> a.counted() == 2);

                TcpTotals open = series(a, "reviews");
                assertThat(new long[] {open.opened(), open.closed(), open.open(), open.sentBytes(),
                    open.receivedBytes()}).as("opened, closed, open, sent and received bytes of the open connection")
                        .containsExactly(1, 0, 1, 15, 27);
                assertThat(a.sample("telemetry_records_rejected_total", "topic", cfg.connectionTopic(), "reason",
                        "invalid_field")).as("PROGRESS events refused").isZero();
            }
            try (TelemetryInstance b = TelemetryInstance.start(cfg, c -> c, clock)) {
                p.send(cfg.connectionTopic(), source, Events.closedAfterProgress(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", "node-a-1", 18, 30, 15, 27));
                await().atMost(WAIT).until(() -> b.totals().connectionsClosed() == 1);
                TcpTotals closed = series(b, "reviews");
                assertThat(new long[] {closed.opened(), closed.closed(), closed.open(), closed.sentBytes(),
                    closed.receivedBytes()}).as("the totals at the close, each byte once")
                        .containsExactly(1, 1, 0, 18, 30);
            }
        }
    }

    /** The source-reported series of PRODUCTPAGE's connections to {@code service}. */
    private static TcpTotals series(TelemetryInstance t, String service) {
        for (Map.Entry<SeriesKey, TcpTotals> e : t.totals().tcp().entrySet()) {
            if (e.getKey().value(0).equals("source") && e.getKey().value(11).equals(service)) {
                return e.getValue();
            }
        }
        throw new AssertionError("no series to " + service + " in " + t.totals().tcp().keySet());
    }
}
