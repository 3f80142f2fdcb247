package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Bad records go to the dead-letter topic with their reason, are counted, and never stall their partition. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DeadLetterTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @Test
    void badRecordsAreDeadLetteredWithTheirReasonAndTheGoodOnesAroundThemCounted() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("dlq"), "a");
        String key = "Kubernetes//Pod/default/productpage-v1-abc12"; // one key: one partition, in this order
        ConnectionEvent good = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        try (TelemetryInstance t = TelemetryInstance.start(cfg); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), key, good);
            p.send(cfg.connectionTopic(), key, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});
            p.send(cfg.connectionTopic(), key, good.toBuilder().setSchemaVersion(2).build());
            p.send(cfg.connectionTopic(), key, good.toBuilder().setKind(ConnectionEvent.Kind.KIND_UNSPECIFIED).build());
            p.send(cfg.connectionTopic(), key, new byte[0]);
            p.send(cfg.connectionTopic(), key, good);
            // a schema this reader does not know, on the other topic
            p.send(cfg.requestTopic(), key, Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 200, 3).toBuilder().setSchemaVersion(3).build());
            p.send(cfg.requestTopic(), key,
                    Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 3));

            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 3);
            List<ConsumerRecord<byte[], byte[]>> dead = readAll(cfg.deadLetterTopic(), 5);
            assertThat(dead).extracting(r -> header(r, EventIngestor.HEADER_REASON)).containsExactlyInAnyOrder(
                    "undecodable", "unknown_schema_version", "invalid_field", "empty_record", "unknown_schema_version");
            ConsumerRecord<byte[], byte[]> undecodable = dead.stream()
                    .filter(r -> header(r, EventIngestor.HEADER_REASON).equals("undecodable")).findFirst().orElseThrow();
            assertThat(new String(undecodable.key(), StandardCharsets.UTF_8)).isEqualTo(key);
            assertThat(undecodable.value()).containsExactly((byte) 0xff, (byte) 0xff, (byte) 0xff);
            assertThat(header(undecodable, EventIngestor.HEADER_TOPIC)).isEqualTo(cfg.connectionTopic());
            assertThat(header(undecodable, EventIngestor.HEADER_OFFSET)).isEqualTo("1");
            assertThat(header(undecodable, EventIngestor.HEADER_DETAIL)).startsWith("not a protobuf event");
            assertThat(dead).anySatisfy(r -> assertThat(header(r, EventIngestor.HEADER_DETAIL))
                    .isEqualTo("ConnectionEvent.kind: KIND_UNSPECIFIED (expected: OPENED, CLOSED or PROGRESS)"));

            String metrics = t.scrape();
            assertThat(metrics).contains("telemetry_records_rejected_total{reason=\"undecodable\",topic=\""
                    + cfg.connectionTopic() + "\"} 1.0");
            assertThat(metrics).contains("telemetry_records_rejected_total{reason=\"unknown_schema_version\",topic=\""
                    + cfg.requestTopic() + "\"} 1.0");
            // the partition went on: the good record after the bad ones was counted
            assertThat(t.totals().connectionsOpened()).isEqualTo(2);
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int expected) {
        Map<String, Object> c = new HashMap<>(kafka.consumerConfig("dlq-reader", ByteArrayDeserializer.class,
                ByteArrayDeserializer.class));
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
                return out.size() >= expected;
            });
        }
        assertThat(out).hasSize(expected);
        return out;
    }
}
