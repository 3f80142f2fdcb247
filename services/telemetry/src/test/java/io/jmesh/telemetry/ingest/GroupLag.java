package io.jmesh.telemetry.ingest;

import static org.awaitility.Awaitility.await;

import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/** The telemetry group's lag on the event topics, read with the broker's admin client. */
final class GroupLag {

    private GroupLag() {}

    /** Waits until the group's committed offsets reach the end of every event partition. */
    static void awaitNone(KafkaExtension kafka, IngestConfig cfg) {
        await().atMost(Duration.ofSeconds(60)).until(() -> of(kafka, cfg) == 0);
    }

    static long of(KafkaExtension kafka, IngestConfig cfg) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed = kafka.admin().listConsumerGroupOffsets(cfg.groupId())
                .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        List<TopicPartition> parts = new ArrayList<>();
        for (int p = 0; p < cfg.partitions(); p++) {
            parts.add(new TopicPartition(cfg.connectionTopic(), p));
            parts.add(new TopicPartition(cfg.requestTopic(), p));
        }
        Map<TopicPartition, OffsetSpec> latest = parts.stream()
                .collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest()));
        long lag = 0;
        for (var e : kafka.admin().listOffsets(latest).all().get(30, TimeUnit.SECONDS).entrySet()) {
            OffsetAndMetadata c = committed.get(e.getKey());
            lag += e.getValue().offset() - (c == null ? 0 : c.offset());
        }
        return lag;
    }
}
