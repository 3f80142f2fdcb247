package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Events that decode but carry values the aggregate cannot count (a label too long to checkpoint, byte counts or
 * durations that are negative once read as Java longs) are dead-lettered, and the events around them counted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BadEventValuesTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final String KEY = "Kubernetes//Pod/default/productpage-v1-abc12"; // one partition, in order

    @Test
    void aLabelValueTooLongToCheckpointIsDeadLetteredAndIngestGoesOn() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("label"), "a");
        ConnectionEvent good = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        ConnectionEvent huge = good.toBuilder()
                .setSource(Events.PRODUCTPAGE.toBuilder().setWorkloadName("w".repeat(70_000))).build();
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, good);
            p.send(cfg.connectionTopic(), KEY, huge);
            p.send(cfg.connectionTopic(), KEY, good);

            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 2 && rejected(t, cfg.connectionTopic(),
                    "invalid_field") == 1);
            assertThat(t.totals().tcp().keySet()).allSatisfy(k -> assertThat(k.value(1)).isEqualTo("productpage-v1"));
        }
    }

    @Test
    void byteCountsAndDurationsThatAreNegativeAsLongsAreDeadLettered() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("neg"), "a");
        ConnectionEvent good = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20);
        RequestEvent request = Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 3);
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, good);
            // uint64 values above Long.MAX_VALUE
            p.send(cfg.connectionTopic(), KEY, good.toBuilder().setBytesSent(-1L).build());
            p.send(cfg.connectionTopic(), KEY, good.toBuilder().setBytesReceived(Long.MIN_VALUE).build());
            p.send(cfg.requestTopic(), KEY, request.toBuilder().setResponseBytes(-5L).build());
            p.send(cfg.requestTopic(), KEY, request.toBuilder()
                    .setDuration(com.google.protobuf.Duration.newBuilder().setSeconds(-3)).build());
            p.send(cfg.connectionTopic(), KEY, good);
            p.send(cfg.requestTopic(), KEY, request);

            await().atMost(Duration.ofSeconds(60)).until(() -> rejected(t, cfg.connectionTopic(), "invalid_field") == 2
                    && rejected(t, cfg.requestTopic(), "invalid_field") == 2 && t.counted() == 3);
            assertThat(t.totals().tcp().values()).singleElement().satisfies(s -> {
                assertThat(s.sentBytes()).isEqualTo(20);
                assertThat(s.receivedBytes()).isEqualTo(40);
            });
            assertThat(t.totals().requests().values()).singleElement().satisfies(r -> {
                assertThat(r.responseBytes().sum()).isEqualTo(2000);
                assertThat(r.durationMillis().sum()).isEqualTo(3);
            });
        }
    }

    @Test
    void bytesThatWouldOverflowTheirSeriesCounterAreDeadLetteredAndTheCounterNeverGoesNegative() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("ovf"), "a");
        ConnectionEvent good = Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20);
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, good);
            p.send(cfg.connectionTopic(), KEY, good.toBuilder().setBytesSent(Long.MAX_VALUE - 10).build());
            p.send(cfg.connectionTopic(), KEY, good); // its 10 bytes sent would take the counter past Long.MAX_VALUE
            p.send(cfg.connectionTopic(), KEY, good.toBuilder().setBytesSent(0).build());

            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 3
                    && rejected(t, cfg.connectionTopic(), "counter_overflow") == 1);
            assertThat(t.totals().tcp().values()).singleElement().satisfies(s -> {
                assertThat(s.sentBytes()).isEqualTo(Long.MAX_VALUE);
                assertThat(s.receivedBytes()).isEqualTo(60);
                assertThat(s.closed()).isEqualTo(3);
            });
            assertThat(t.scrape().lines().filter(l -> l.startsWith("istio_tcp_sent_bytes_total{")))
                    .singleElement().satisfies(l -> assertThat(l).endsWith(" 9.223372036854776E18"));
            assertThat(rejected(t, cfg.requestTopic(), "counter_overflow")).isZero();
        }
    }

    /** {@code telemetry_records_rejected_total{topic,reason}} as scraped. */
    static double rejected(TelemetryInstance t, String topic, String reason) throws Exception {
        String line = "telemetry_records_rejected_total{reason=\"" + reason + "\",topic=\"" + topic + "\"} ";
        return t.scrape().lines().filter(l -> l.startsWith(line)).mapToDouble(l -> Double.parseDouble(
                l.substring(line.length()))).findFirst().orElse(0);
    }
}
