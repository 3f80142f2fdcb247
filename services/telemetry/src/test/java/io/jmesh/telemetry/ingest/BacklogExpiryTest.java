package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
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
 * A telemetry outage longer than {@code seriesTtl} does not expire the series whose events wait in the backlog:
 * a series is idle only once its partition has been read up to its end. Before, the first expiry after the
 * restart ran before the backlog was read and removed them, and their events then started them again from zero.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BacklogExpiryTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int BACKLOG = 50_000;
    private static final String KEY = "Kubernetes//Pod/default/productpage-v1-abc12";

    @Test
    void aSeriesWithEventsInTheBacklogOfALongOutageKeepsItsTotals() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("backlog"),
                "a");
        MutableClock clock = new MutableClock(Instant.parse("2026-12-02T12:00:00Z"));
        try (EventProducer p = new EventProducer(kafka)) {
            try (TelemetryInstance a = TelemetryInstance.start(cfg, c -> c, clock)) {
                for (int i = 0; i < 3; i++) {
                    p.send(cfg.connectionTopic(), KEY, Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE,
                            Events.REVIEWS, "reviews", 10, 20));
                }
                await().atMost(WAIT).until(() -> a.totals().connectionsClosed() == 3);
            }
            // telemetry is down for two hours (seriesTtl is one); the workload keeps calling meanwhile, behind
            // more traffic of its other series on the same partition than one poll returns
            clock.advance(Duration.ofHours(2));
            var other = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.RATINGS, "ratings", 1, 1);
            p.sendAll(cfg.connectionTopic(), java.util.Collections.nCopies(BACKLOG, Map.entry(KEY, other)));
            p.send(cfg.connectionTopic(), KEY, Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 10, 20));
            try (TelemetryInstance b = TelemetryInstance.start(cfg, c -> c, clock)) {
                GroupLag.awaitNone(kafka, cfg);
                await().atMost(WAIT).until(() -> b.totals().connectionsClosed() > BACKLOG);
                assertThat(b.totals().connectionsClosed()).as("the series' totals go on from its checkpoint")
                        .isEqualTo(4 + BACKLOG);
                assertThat(b.sample("telemetry_series_expired_total")).isZero();
            }
        }
    }
}
