package io.jmesh.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.kafka.client.common.TopicPartition;
import io.vertx.kafka.client.consumer.KafkaConsumer;
import io.vertx.kafka.client.consumer.KafkaConsumerRecord;
import io.vertx.kafka.client.producer.KafkaProducer;
import io.vertx.kafka.client.producer.KafkaProducerRecord;
import io.vertx.kafka.client.producer.RecordMetadata;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The services' client stack (vertx-kafka-client 5.0.7, kafka-clients 3.7.1) against the real broker. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class KafkaExtensionTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension(b -> b
            // let the log cleaner look for work often, so the compaction test need not wait 15 s
            .brokerProperty("log.cleaner.backoff.ms", "250"));

    private static Vertx vertx;

    @BeforeAll
    static void vertx() {
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void closeVertx() throws Exception {
        result(vertx.close());
    }

    @Test
    void producesAndConsumesThroughVertxKafkaClient() throws Exception {
        String topic = KafkaExtension.uniqueTopic("plain");
        kafka.createTopic(topic, 3, false);
        assertThat(kafka.bootstrapServers()).startsWith("127.0.0.1:");

        KafkaProducer<String, String> producer = KafkaProducer.create(vertx, kafka.producerConfig());
        try {
            for (int i = 0; i < 60; i++) {
                RecordMetadata md = result(producer.send(KafkaProducerRecord.create(topic, "key-" + (i % 6), "v" + i)));
                assertThat(md.getTopic()).isEqualTo(topic);
            }
        } finally {
            result(producer.close());
        }

        Queue<KafkaConsumerRecord<String, String>> received = new ConcurrentLinkedQueue<>();
        KafkaConsumer<String, String> consumer = KafkaConsumer.create(vertx, kafka.consumerConfig("plain-readers"));
        try {
            consumer.handler(received::add);
            result(consumer.subscribe(topic));
            await().atMost(Duration.ofSeconds(60)).until(() -> received.size() >= 60);
        } finally {
            result(consumer.close());
        }
        assertThat(received).hasSize(60);
        assertThat(received).extracting(KafkaConsumerRecord::value)
                .containsExactlyInAnyOrderElementsOf(IntStream.range(0, 60).mapToObj(i -> "v" + i).toList());
        // one key lives in one partition, in the order it was written
        Map<String, List<Integer>> perKey = received.stream().collect(Collectors.groupingBy(KafkaConsumerRecord::key,
                Collectors.mapping(r -> Integer.parseInt(r.value().substring(1)), Collectors.toList())));
        perKey.values().forEach(seq -> assertThat(seq).isSorted());
        received.stream().collect(Collectors.groupingBy(KafkaConsumerRecord::key,
                Collectors.mapping(KafkaConsumerRecord::partition, Collectors.toSet())))
                .values().forEach(partitions -> assertThat(partitions).hasSize(1));
    }

    @Test
    void compactedTopicTombstoneDeletesAKey() throws Exception {
        String topic = KafkaExtension.uniqueTopic("mesh.config.v1");
        kafka.createTopic(topic, 1, true);
        Config config = kafka.admin().describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, topic)))
                .all().get(30, TimeUnit.SECONDS).values().iterator().next();
        assertThat(config.get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo(TopicConfig.CLEANUP_POLICY_COMPACT);

        KafkaProducer<String, String> producer = KafkaProducer.create(vertx, kafka.producerConfig());
        try {
            result(producer.send(KafkaProducerRecord.create(topic, "Workload/default/a", "a-v1")));
            result(producer.send(KafkaProducerRecord.create(topic, "Workload/default/b", "b-v1")));
            result(producer.send(KafkaProducerRecord.create(topic, "Workload/default/a", "a-v2")));
            result(producer.send(KafkaProducerRecord.create(topic, "Workload/default/b", (String) null))); // tombstone
        } finally {
            result(producer.close());
        }

        List<KafkaConsumerRecord<String, String>> log = readFromStart(topic, 4);
        assertThat(log.get(3).key()).isEqualTo("Workload/default/b");
        assertThat(log.get(3).value()).isNull();
        assertThat(materialize(log)).containsExactly(Map.entry("Workload/default/a", "a-v2"));
    }

    @Test
    void logCleanerCompactsAwayOverwrittenValuesAndTombstones() throws Exception {
        String topic = KafkaExtension.uniqueTopic("mesh.ca-revocations.v1");
        // small segments, eager cleaning, tombstones kept 0 ms: the broker's cleaner (4 MiB dedupe buffer) does the rest
        kafka.createTopic(topic, 1, Map.of(
                TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                TopicConfig.SEGMENT_MS_CONFIG, "100",
                TopicConfig.MIN_CLEANABLE_DIRTY_RATIO_CONFIG, "0.01",
                TopicConfig.DELETE_RETENTION_MS_CONFIG, "0",
                TopicConfig.MIN_COMPACTION_LAG_MS_CONFIG, "0"));
        KafkaProducer<String, String> producer = KafkaProducer.create(vertx, kafka.producerConfig());
        try {
            for (int i = 0; i < 20; i++) {
                result(producer.send(KafkaProducerRecord.create(topic, "serial-" + (i % 4), "r" + i)));
            }
            result(producer.send(KafkaProducerRecord.create(topic, "serial-0", (String) null)));
            // keep appending (after segment.ms) so the segments holding the history roll and become cleanable
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            int beat = 0;
            while (System.nanoTime() < deadline) {
                Thread.sleep(300);
                result(producer.send(KafkaProducerRecord.create(topic, "heartbeat", "h" + beat++)));
                List<KafkaConsumerRecord<String, String>> log = readFromStart(topic, -1);
                boolean compacted = log.stream().noneMatch(r -> "r0".equals(r.value()) || "r1".equals(r.value()));
                if (compacted) {
                    Map<String, String> state = materialize(log);
                    assertThat(state).doesNotContainKey("serial-0")
                            .containsEntry("serial-1", "r17").containsEntry("serial-2", "r18")
                            .containsEntry("serial-3", "r19");
                    assertThat(log.size()).isLessThan(21 + beat);
                    return;
                }
            }
            throw new AssertionError("the log cleaner did not compact " + topic + " within 90 s; see "
                    + kafka.broker().logFile());
        } finally {
            result(producer.close());
        }
    }

    @Test
    void consumerGroupResumesFromCommittedOffsetsAfterARestart() throws Exception {
        String topic = KafkaExtension.uniqueTopic("mesh.l4-events.v1");
        String group = "telemetry-aggregator";
        kafka.createTopic(topic, 2, false);
        produce(topic, 0, 10);

        Queue<KafkaConsumerRecord<String, String>> first = new ConcurrentLinkedQueue<>();
        KafkaConsumer<String, String> consumer = KafkaConsumer.create(vertx, kafka.consumerConfig(group));
        try {
            consumer.handler(first::add);
            result(consumer.subscribe(topic));
            await().atMost(Duration.ofSeconds(60)).until(() -> first.size() >= 10);
            consumer.pause();
            result(consumer.commit());
        } finally {
            result(consumer.close());
        }
        assertThat(first).extracting(KafkaConsumerRecord::value)
                .containsExactlyInAnyOrderElementsOf(values(0, 10));

        produce(topic, 10, 15);
        Queue<KafkaConsumerRecord<String, String>> second = new ConcurrentLinkedQueue<>();
        KafkaConsumer<String, String> restarted = KafkaConsumer.create(vertx, kafka.consumerConfig(group));
        try {
            restarted.handler(second::add);
            result(restarted.subscribe(topic));
            await().atMost(Duration.ofSeconds(60)).until(() -> second.size() >= 5);
            // nothing before the committed offsets comes again, even given time to
            Thread.sleep(1_000);
            assertThat(second).extracting(KafkaConsumerRecord::value)
                    .containsExactlyInAnyOrderElementsOf(values(10, 15));
            result(restarted.commit());
            long committed = 0;
            for (int p = 0; p < 2; p++) {
                committed += result(restarted.committed(new TopicPartition(topic, p))).getOffset();
            }
            assertThat(committed).isEqualTo(15);
        } finally {
            result(restarted.close());
        }
        Map<org.apache.kafka.common.TopicPartition, OffsetSpec> latest = new LinkedHashMap<>();
        latest.put(new org.apache.kafka.common.TopicPartition(topic, 0), OffsetSpec.latest());
        latest.put(new org.apache.kafka.common.TopicPartition(topic, 1), OffsetSpec.latest());
        long end = kafka.admin().listOffsets(latest).all().get(30, TimeUnit.SECONDS).values().stream()
                .mapToLong(info -> info.offset()).sum();
        assertThat(end).isEqualTo(15);
    }

    @Nested
    class NestedTests {
        @Test
        void shareTheEnclosingClassBroker() throws Exception {
            assertThat(kafka.broker().dataDir().getFileName().toString()).startsWith("KafkaExtensionTest-");
            assertThat(kafka.admin().describeCluster().nodes().get(30, TimeUnit.SECONDS)).hasSize(1);
        }
    }

    // ---------------------------------------------------------------------------------------------

    private static void produce(String topic, int from, int to) throws Exception {
        KafkaProducer<String, String> producer = KafkaProducer.create(vertx, kafka.producerConfig());
        try {
            for (int i = from; i < to; i++) {
                result(producer.send(KafkaProducerRecord.create(topic, "workload-" + i, "e" + i)));
            }
        } finally {
            result(producer.close());
        }
    }

    private static List<String> values(int from, int to) {
        return IntStream.range(from, to).mapToObj(i -> "e" + i).toList();
    }

    /**
     * Every record of a one-partition topic from offset 0 to its current end, read by an assigned
     * consumer (no group). With {@code expected >= 0}, waits until that many arrived.
     */
    private static List<KafkaConsumerRecord<String, String>> readFromStart(String topic, int expected) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<String, String> conf = kafka.consumerConfig("unused");
        conf.remove("group.id");
        KafkaConsumer<String, String> consumer = KafkaConsumer.create(vertx, conf);
        try {
            long end = result(consumer.endOffsets(tp));
            Queue<KafkaConsumerRecord<String, String>> out = new ConcurrentLinkedQueue<>();
            consumer.handler(out::add);
            result(consumer.assign(tp));
            result(consumer.seekToBeginning(tp));
            await().atMost(Duration.ofSeconds(30)).until(() -> expected >= 0
                    ? out.size() >= expected
                    : out.stream().anyMatch(r -> r.offset() >= end - 1) || end == 0);
            return new ArrayList<>(out);
        } finally {
            result(consumer.close());
        }
    }

    private static Map<String, String> materialize(List<KafkaConsumerRecord<String, String>> log) {
        Map<String, String> state = new LinkedHashMap<>();
        for (KafkaConsumerRecord<String, String> r : log) {
            if (r.value() == null) {
                state.remove(r.key());
            } else {
                state.put(r.key(), r.value());
            }
        }
        state.keySet().removeIf(k -> k.equals("heartbeat"));
        return state;
    }

    private static <T> T result(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
}
