package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.Exposition;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * When a replica joins and takes partitions over, no counter the first replica still serves goes backwards:
 * Prometheus would read a reset and count all that remains of it again, a spike of the series' whole history.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RebalanceCountersTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void aReplicaHandingPartitionsOverServesNoCounterLowerThanBefore() throws Exception {
        IngestConfig cfgA = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("handover"),
                "a");
        IngestConfig cfgB = new IngestConfig(cfgA.bootstrapServers(), cfgA.groupId(), "b", cfgA.connectionTopic(),
                cfgA.requestTopic(), cfgA.deadLetterTopic(), cfgA.checkpointTopic(), cfgA.commitInterval(),
                cfgA.createTopics(), cfgA.partitions(), cfgA.replicationFactor());
        try (EventProducer producer = new EventProducer(kafka); TelemetryInstance a = TelemetryInstance.start(cfgA)) {
            // four pods of one workload, each on its own partition: one Istio series counted on all four
            for (int partition = 0; partition < cfgA.partitions(); partition++) {
                String pod = "Kubernetes//Pod/default/productpage-v1-" + partition;
                producer.send(cfgA.connectionTopic(), partition, pod, Events.opened(Reporter.SOURCE,
                        Events.PRODUCTPAGE, Events.REVIEWS, "reviews").toByteArray());
                producer.send(cfgA.requestTopic(), partition, pod, Events.request(Reporter.WAYPOINT,
                        Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7).toByteArray());
            }
            await().atMost(WAIT).until(() -> a.counted() == 2L * cfgA.partitions());
            Map<String, Double> before = Exposition.samples(a.scrape());

            try (TelemetryInstance b = TelemetryInstance.start(cfgB)) {
                await().atMost(WAIT).until(() -> !b.service().ingestor().assignment().isEmpty()
                        && a.service().ingestor().assignment().size() + b.service().ingestor().assignment().size()
                        == 2 * cfgA.partitions());
                await().atMost(WAIT).until(() -> a.counted() + b.counted() == 2L * cfgA.partitions());
                assertThat(a.service().ingestor().assignment()).as("a still serves some partitions").isNotEmpty();

                Exposition.assertNoneDecreased(before, Exposition.samples(a.scrape()));
            }
        }
    }
}
