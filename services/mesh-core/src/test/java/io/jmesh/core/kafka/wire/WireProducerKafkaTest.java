package io.jmesh.core.kafka.wire;

import static io.jmesh.core.kafka.wire.ProducerRuns.drive;
import static io.jmesh.core.kafka.wire.ProducerRuns.producerLines;
import static io.jmesh.core.kafka.wire.ProducerRuns.stopListening;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.core.kafka.wire.ProducerRuns.Outcomes;
import io.jmesh.testing.KafkaExtension;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link WireProducer} against a real KRaft broker: what it stores, where, how often, and what a broker outage does. */
@Timeout(180)
class WireProducerKafkaTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();


    @Test
    void eachEventIsStoredOnceOnItsKeysPartitionInOrderUnderOneProducerId() throws Exception {
        String topic = KafkaExtension.uniqueTopic("wire");
        kafka.createTopic(topic, 3, false);
        WireProducer producer = new WireProducer(settings(kafka.bootstrapServers(), 20), "wire-test");
        Outcomes outcomes = new Outcomes();
        int n = 3000;
        for (int i = 0; i < n; i++) {
            producer.send(topic, key(i), ("v" + i).getBytes(StandardCharsets.UTF_8), outcomes.next());
            if (i % 500 == 0) {
                producer.sendDue();
            }
        }
        drive(producer, () -> outcomes.done() == n);
        assertThat(outcomes.failures).isEmpty();
        assertThat(outcomes.acknowledged).hasValue(n);
        assertThat(producer.heldBytes()).isZero();

        List<ConsumerRecord<byte[], byte[]>> stored = consume(topic, n);
        assertThat(stored).hasSize(n);
        Map<String, Integer> lastOfKey = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : stored) {
            String key = new String(r.key(), StandardCharsets.UTF_8);
            int i = Integer.parseInt(new String(r.value(), StandardCharsets.UTF_8).substring(1));
            assertThat(r.partition()).as("the partition Kafka's client picks for %s", key)
                    .isEqualTo(BuiltInPartitioner.partitionForKey(r.key(), 3));
            assertThat(lastOfKey.getOrDefault(key, -1)).as("events of %s in order", key).isLessThan(i);
            lastOfKey.put(key, i);
        }
        assertThat(stored.stream().map(r -> new String(r.value(), StandardCharsets.UTF_8)).distinct()).hasSize(n);

        // the broker tracks one idempotent producer per partition, its last sequence = records - 1
        List<TopicPartition> partitions = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
                new TopicPartition(topic, 2));
        long total = 0;
        Long producerId = null;
        for (TopicPartition tp : partitions) {
            List<ProducerState> states = kafka.admin().describeProducers(List.of(tp)).partitionResult(tp)
                    .get().activeProducers();
            assertThat(states).hasSize(1);
            producerId = producerId == null ? states.get(0).producerId() : producerId;
            assertThat(states.get(0).producerId()).isEqualTo(producerId).isNotNegative();
            total += states.get(0).lastSequence() + 1;
        }
        assertThat(total).isEqualTo(n);
        producer.close(Duration.ofSeconds(5));
    }

    /** A Produce answer lost after the broker stored the batch: resent unchanged, the broker keeps one copy. */
    @Test
    void aBatchResentAfterItsAnswerWasLostIsStoredOnce() throws Exception {
        String topic = KafkaExtension.uniqueTopic("wire-lost");
        kafka.createTopic(topic, 1, false);
        WireProducer producer = new WireProducer(settings(kafka.bootstrapServers(), 20), "wire-test");
        Outcomes outcomes = new Outcomes();
        producer.send(topic, key(0), "first".getBytes(StandardCharsets.UTF_8), outcomes.next());
        drive(producer, () -> outcomes.done() == 1);
        producer.answersToLose = 2;
        sendNumbered(producer, topic, 1, 51, outcomes);
        drive(producer, () -> outcomes.done() == 51);
        assertThat(outcomes.failures).isEmpty();
        assertThat(producer.answersToLose).as("both answers were lost").isZero();
        assertThat(consume(topic, 51)).hasSize(51);
        TopicPartition tp = new TopicPartition(topic, 0);
        assertThat(kafka.admin().listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset())
                .as("the log holds 51 records: no second copy").isEqualTo(51);
        producer.close(Duration.ofSeconds(5));
    }

    /** Events sent while the broker is down wait, and arrive once it is back within their delivery timeout. */
    @Test
    void eventsWaitOutABrokerRestartAndArriveOnce() throws Exception {
        String topic = KafkaExtension.uniqueTopic("wire-restart");
        kafka.createTopic(topic, 2, false);
        WireProducer producer = new WireProducer(settings(kafka.bootstrapServers(), 60), "wire-test");
        Outcomes outcomes = new Outcomes();
        sendNumbered(producer, topic, 0, 100, outcomes);
        // a second producer with a short delivery timeout: what it holds while the broker is away fails in time
        WireProducer impatient = new WireProducer(settings(kafka.bootstrapServers(), 2), "wire-test-impatient");
        Outcomes brief = new Outcomes();
        impatient.send(topic, key(0), "known".getBytes(StandardCharsets.UTF_8), brief.next());
        drive(producer, () -> outcomes.done() == 100);
        drive(impatient, () -> brief.done() == 1);

        kafka.broker().close();
        for (int i = 0; i < 10; i++) {
            impatient.send(topic, key(i), new byte[] {1}, brief.next());
        }
        drive(impatient, () -> brief.done() == 11);
        assertThat(brief.failures).hasSize(10).allSatisfy(f -> assertThat(f)
                .hasMessageContaining("did not acknowledge within the delivery timeout"));
        assertThat(impatient.heldBytes()).isZero();
        impatient.close(Duration.ofMillis(100));

        sendNumbered(producer, topic, 100, 200, outcomes);
        long until = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        drive(producer, () -> System.nanoTime() > until);
        assertThat(outcomes.done()).as("nothing settles while the broker is away").isEqualTo(100);

        kafka.broker().start();
        drive(producer, () -> outcomes.done() == 200);
        assertThat(outcomes.failures).isEmpty();
        List<String> stored = consume(topic, 201).stream().map(r -> new String(r.value(), StandardCharsets.UTF_8))
                .filter(v -> !v.equals("known")).toList();
        assertThat(stored).hasSize(200).doesNotHaveDuplicates();
        producer.close(Duration.ofSeconds(5));
    }

    /** A connection idle past the limit is closed and replaced quietly: a broker closing idle ones is no outage. */
    @Test
    void anIdleConnectionIsReplacedQuietly() throws Exception {
        String topic = KafkaExtension.uniqueTopic("wire-idle");
        kafka.createTopic(topic, 1, false);
        WireProducer producer = new WireProducer(settings(kafka.bootstrapServers(), 20), "wire-test");
        producer.connectionIdleMaxNanos = Duration.ofMillis(200).toNanos();
        ListAppender<ILoggingEvent> lines = producerLines();
        try {
            Outcomes outcomes = new Outcomes();
            producer.send(topic, key(0), "before".getBytes(StandardCharsets.UTF_8), outcomes.next());
            drive(producer, () -> outcomes.done() == 1);
            int opened = producer.connectionsOpened;
            Thread.sleep(400);
            producer.send(topic, key(0), "after".getBytes(StandardCharsets.UTF_8), outcomes.next());
            drive(producer, () -> outcomes.done() == 2);
            assertThat(outcomes.failures).isEmpty();
            assertThat(producer.connectionsOpened).as("the idle connection was replaced").isGreaterThan(opened);
            assertThat(lines.list).as("no warning").isEmpty();
        } finally {
            stopListening(lines);
            producer.close(Duration.ofSeconds(5));
        }
    }

    @Test
    void withNoBrokerEventsFailAtTheirDeliveryTimeoutAndCloseIsPrompt() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        WireProducer producer = new WireProducer(settings("127.0.0.1:" + port, 2), "wire-test");
        Outcomes outcomes = new Outcomes();
        for (int i = 0; i < 10; i++) {
            producer.send("nowhere", key(i), new byte[] {1}, outcomes.next());
        }
        long start = System.nanoTime();
        drive(producer, () -> outcomes.done() == 10);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        assertThat(outcomes.failures).hasSize(10).allSatisfy(f -> assertThat(f)
                .hasMessageContaining("delivery timeout").hasMessageContaining("127.0.0.1:" + port));
        assertThat(producer.heldBytes()).isZero();

        producer.send("nowhere", key(0), new byte[] {1}, outcomes.next());
        long closing = System.nanoTime();
        producer.close(Duration.ofMillis(300));
        assertThat(Duration.ofNanos(System.nanoTime() - closing)).isLessThan(Duration.ofSeconds(3));
        assertThat(outcomes.failures).hasSize(11);
        assertThat(outcomes.failures.get(10)).hasMessageContaining("closed");
    }

    @Test
    void aBadBootstrapAddressIsNamed() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new WireProducer(settings("kafka", 2), "t"))
                .hasMessageContaining("kafka.bootstrapServers: 'kafka' is not host:port");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new WireProducer(settings("kafka:x", 2), "t"))
                .hasMessageContaining("no numeric port");
    }

    private static KafkaSettings settings(String bootstrap, int deliverySeconds) {
        return new KafkaSettings(bootstrap, 1024, Duration.ofSeconds(deliverySeconds));
    }

    /** Sends events {@code v<from>} to {@code v<to - 1>}, keyed {@link #key}. */
    private static void sendNumbered(WireProducer producer, String topic, int from, int to, Outcomes outcomes) {
        for (int i = from; i < to; i++) {
            producer.send(topic, key(i), ("v" + i).getBytes(StandardCharsets.UTF_8), outcomes.next());
        }
    }

    private static byte[] key(int i) {
        return ("k" + (i % 50)).getBytes(StandardCharsets.UTF_8);
    }

    private static List<ConsumerRecord<byte[], byte[]>> consume(String topic, int n) {
        return kafka.readRecords(topic, n, Duration.ofSeconds(20));
    }
}
