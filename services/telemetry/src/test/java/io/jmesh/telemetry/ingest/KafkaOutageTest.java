package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Kafka goes away and comes back: telemetry keeps serving, then resumes from its committed offsets. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KafkaOutageTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @Test
    void resumesFromTheCommittedOffsetsWhenTheBrokerIsBack() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("outage"), "a");
        try (TelemetryInstance t = TelemetryInstance.start(cfg)) {
            try (EventProducer p = new EventProducer(kafka)) {
                ExactlyOnceIngestTest.produce(p, cfg, 0, 200);
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 200);
            GroupLag.awaitNone(kafka, cfg);

            kafka.broker().close(); // the broker is down
            // the service keeps serving what it counted (and stays ready: it has nothing to lose)
            assertThat(t.get("/healthz/ready").statusCode()).isEqualTo(200);
            assertThat(t.scrape()).contains("istio_requests_total");
            assertThat(t.counted()).isEqualTo(200);
            kafka.broker().start(); // same data dir and ports: topics, records and offsets survive

            try (EventProducer p = new EventProducer(kafka)) {
                ExactlyOnceIngestTest.produce(p, cfg, 200, 150);
            }
            await().atMost(Duration.ofSeconds(90)).until(() -> t.counted() == 350);
            GroupLag.awaitNone(kafka, cfg);
            assertThat(t.counted()).isEqualTo(350);
        }
    }
}
