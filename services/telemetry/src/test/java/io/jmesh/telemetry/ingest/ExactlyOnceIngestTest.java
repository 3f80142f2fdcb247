package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Each event is counted exactly once although Kafka delivers at least once: across a restart of the only
 * replica, and across rebalances between two replicas (one joins, then the other leaves), with a real broker.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ExactlyOnceIngestTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void restartResumesFromTheCheckpointAndCountsEachEventOnce() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("restart"), "a");
        try (EventProducer producer = new EventProducer(kafka)) {
            try (TelemetryInstance a = TelemetryInstance.start(cfg)) {
                produce(producer, cfg, 0, 300);
                await().atMost(WAIT).until(() -> a.counted() == 300);
            }
            produce(producer, cfg, 300, 200); // while nobody consumes
            try (TelemetryInstance again = TelemetryInstance.start(cfg)) {
                await().atMost(WAIT).until(() -> again.counted() == 500);
                awaitNoLag(cfg);
                assertThat(again.counted()).isEqualTo(500);
                assertThat(again.totals().connectionsOpened()).isEqualTo(125);
                assertThat(again.totals().connectionsClosed()).isEqualTo(125);
                assertThat(again.totals().requestCount()).isEqualTo(250);
            }
        }
    }

    @Test
    void twoReplicasSplitThePartitionsAndHandThemOverWithoutLosingOrDoublingCounts() throws Exception {
        IngestConfig cfgA = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("rebalance"), "a");
        IngestConfig cfgB = new IngestConfig(cfgA.bootstrapServers(), cfgA.groupId(), "b", cfgA.connectionTopic(),
                cfgA.requestTopic(), cfgA.deadLetterTopic(), cfgA.checkpointTopic(), cfgA.commitInterval(),
                cfgA.createTopics(), cfgA.partitions(), cfgA.replicationFactor());
        TelemetryInstance a = TelemetryInstance.start(cfgA);
        TelemetryInstance b = null;
        try (EventProducer producer = new EventProducer(kafka)) {
            produce(producer, cfgA, 0, 400);
            await().atMost(WAIT).until(() -> a.counted() == 400);

            // b joins: the partitions are split, a hands some over together with their checkpoints
            TelemetryInstance joined = TelemetryInstance.start(cfgB);
            b = joined;
            await().atMost(WAIT).until(() -> !owned(a).isEmpty() && !owned(joined).isEmpty()
                    && owned(a).size() + owned(joined).size() == 8);
            assertThat(owned(a)).doesNotContainAnyElementsOf(owned(joined));
            Set<TopicPartition> union = new HashSet<>(owned(a));
            union.addAll(owned(joined));
            assertThat(union).hasSize(8); // 4 partitions of each event topic

            produce(producer, cfgA, 400, 400);
            await().atMost(WAIT).until(() -> a.counted() + joined.counted() == 800);
            awaitNoLag(cfgA);
            assertThat(a.counted() + joined.counted()).isEqualTo(800);

            // a leaves: b owns everything and, from a's checkpoints, knows all 800
            a.close();
            await().atMost(WAIT).until(() -> owned(joined).size() == 8 && joined.counted() == 800);
            produce(producer, cfgA, 800, 100);
            await().atMost(WAIT).until(() -> joined.counted() == 900);
            awaitNoLag(cfgA);
            assertThat(joined.counted()).isEqualTo(900);
        } finally {
            a.close(); // a second close returns at once
            if (b != null) {
                b.close();
            }
        }
    }

    private static Set<TopicPartition> owned(TelemetryInstance t) {
        return t.service().ingestor().assignment();
    }

    /** Half connection events (alternately opened and closed), half requests, keyed by 16 source workloads. */
    static void produce(EventProducer producer, IngestConfig cfg, int from, int count) {
        for (int i = from; i < from + count; i++) {
            String key = "Kubernetes//Pod/default/src-" + (i % 16);
            if (i % 2 == 0) {
                producer.send(cfg.connectionTopic(), key, (i / 2) % 2 == 0
                        ? Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews")
                        : Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20));
            } else {
                producer.send(cfg.requestTopic(), key,
                        Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7));
            }
        }
    }

    static void awaitNoLag(IngestConfig cfg) {
        GroupLag.awaitNone(kafka, cfg);
    }
}
