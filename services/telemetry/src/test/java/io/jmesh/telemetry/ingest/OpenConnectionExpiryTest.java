package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
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
 * ztunnel reports a connection when it opens and when it closes, nothing in between: the series of a connection
 * open for longer than {@code seriesTtl} must not expire meanwhile (it would vanish from /metrics and come back
 * at the close with all its bytes as a new series, which rate() does not count), also across a restart. A close
 * that never comes is bounded by {@code openSeriesTtl}, and counted.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class OpenConnectionExpiryTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void theSeriesOfAConnectionOpenLongerThanTheTtlStaysAcrossARestartUntilItsClose() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("open"), "a");
        MutableClock clock = new MutableClock(Instant.parse("2026-12-02T12:00:00Z"));
        try (EventProducer p = new EventProducer(kafka)) {
            try (TelemetryInstance a = TelemetryInstance.start(cfg, c -> c, clock)) {
                send(p, cfg, Events.PRODUCTPAGE, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                        "reviews"));
                send(p, cfg, Events.REVIEWS, Events.opened(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings"));
                send(p, cfg, Events.REVIEWS, Events.closed(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings",
                        1, 1));
                await().atMost(WAIT).until(() -> a.counted() == 3);

                clock.advance(Duration.ofHours(2)); // past seriesTtl (1 h): the closed connection's series goes
                await().atMost(WAIT).until(() -> series(a, Events.REVIEWS) == null);
                assertThat(series(a, Events.PRODUCTPAGE)).as("the series of the connection still open")
                        .isNotNull().extracting(TcpTotals::opened).isEqualTo(1L);
            }
            clock.advance(Duration.ofHours(2));
            try (TelemetryInstance b = TelemetryInstance.start(cfg, c -> c, clock)) {
                send(p, cfg, Events.PRODUCTPAGE, Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                        "reviews", 10, 20));
                await().atMost(WAIT).until(() -> b.totals().connectionsClosed() == 1);
                TcpTotals t = series(b, Events.PRODUCTPAGE);
                assertThat(new long[] {t.opened(), t.closed(), t.sentBytes(), t.receivedBytes()})
                        .containsExactly(1, 1, 10, 20);

                // a connection whose close is lost (its ztunnel crashed): its series goes after openSeriesTtl
                send(p, cfg, Events.RATINGS, Events.opened(Reporter.SOURCE, Events.RATINGS, Events.PRODUCTPAGE,
                        "productpage"));
                await().atMost(WAIT).until(() -> series(b, Events.RATINGS) != null);
                clock.advance(Duration.ofDays(6));
                await().atMost(WAIT).until(() -> series(b, Events.PRODUCTPAGE) == null); // closed: idle for 1 h
                assertThat(series(b, Events.RATINGS)).isNotNull();
                assertThat(b.sample("telemetry_series_expired_open_total")).isZero();
                clock.advance(Duration.ofDays(2)); // past openSeriesTtl (7 d)
                await().atMost(WAIT).until(() -> series(b, Events.RATINGS) == null);
                assertThat(b.sample("telemetry_series_expired_open_total")).isEqualTo(1);
            }
        }
    }

    private static void send(EventProducer p, IngestConfig cfg, WorkloadInfo source,
            io.jmesh.proto.telemetry.v1.ConnectionEvent e) {
        p.send(cfg.connectionTopic(), source.getUid(), e);
    }

    /** The source-reported series of {@code source}'s connections, or null. */
    private static TcpTotals series(TelemetryInstance t, WorkloadInfo source) {
        for (Map.Entry<SeriesKey, TcpTotals> e : t.totals().tcp().entrySet()) {
            if (e.getKey().value(1).equals(source.getWorkloadName())) {
                return e.getValue();
            }
        }
        return null;
    }
}
