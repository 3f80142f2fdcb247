package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.AbstractMap.SimpleEntry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What telemetry writes to Kafka (checkpoints, dead letters) is bigger than what it reads; neither may exceed what
 * the broker accepts, or every transaction of the replica fails and it stops counting, retrying forever.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RecordSizeTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final String KEY = "Kubernetes//Pod/default/productpage-v1-abc12"; // one partition

    @Test
    void aPartitionWhoseCheckpointExceedsTheBrokersDefaultRecordSizeStillCommits() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("big"), "a");
        // ~600 bytes of checkpoint per request series: 2,500 series make ~1.5 MB, over the broker's 1 MiB default
        // (the documented limit is 16 MiB)
        int n = 2_500;
        List<Map.Entry<String, RequestEvent>> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(new SimpleEntry<>(KEY, Events.request(Reporter.WAYPOINT, Events.workload("client-" + i,
                    "client", "v1"), Events.REVIEWS, "reviews", 200, 3)));
        }
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.sendAll(cfg.requestTopic(), events);
            await().atMost(Duration.ofSeconds(90)).until(() -> t.counted() == n);
            assertThat(t.totals().requests()).hasSize(n);
        }
    }

    @Test
    void eventsThatWouldGrowACheckpointPast16MiBAreDeadLetteredAndTheRestCounted() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("card"), "a");
        // 8 distinct ~900-character labels per series (a buggy or hostile reporter): ~7 kB of checkpoint each
        int n = 3_000;
        List<Map.Entry<String, RequestEvent>> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String u = String.format("%04d", i).repeat(225);
            events.add(new SimpleEntry<>(KEY, Events.request(Reporter.WAYPOINT, Events.workload(u, "a" + u, "v" + u),
                    Events.workload("d" + u, "b" + u, "w" + u), "reviews", 200, 3)));
        }
        RequestEvent known = events.get(0).getValue();
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.sendAll(cfg.requestTopic(), events);
            p.send(cfg.requestTopic(), KEY, known); // its series exists: counted
            // no scrape: this many series with such labels make a /metrics answer of hundreds of megabytes
            await().atMost(Duration.ofSeconds(120)).until(() -> t.counted() + seriesLimited(t, cfg) == n + 1);
            assertThat(seriesLimited(t, cfg)).isPositive();
            assertThat(t.totals().requests().values()).filteredOn(r -> r.requests() == 2).hasSize(1);
        }
    }

    private static double seriesLimited(TelemetryInstance t, IngestConfig cfg) {
        return t.sample("telemetry_records_rejected_total", "reason", "series_limit", "topic", cfg.requestTopic());
    }

    @Test
    void aBadRecordJustUnderTheEventTopicsLimitIsDeadLetteredAndThePartitionGoesOn() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("near"), "a");
        // undecodable, and as large as the event topic (broker default) takes: the dead letter adds headers
        byte[] junk = new byte[1_048_400];
        Arrays.fill(junk, (byte) 0xff);
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, junk);
            p.send(cfg.connectionTopic(), KEY, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews"));
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 1
                    && BadEventValuesTest.rejected(t, cfg.connectionTopic(), "undecodable") == 1);
        }
    }
}
