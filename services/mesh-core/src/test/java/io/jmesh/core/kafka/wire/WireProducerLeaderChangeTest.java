package io.jmesh.core.kafka.wire;

import static io.jmesh.core.kafka.wire.ProducerRuns.drive;
import static io.jmesh.core.kafka.wire.ProducerRuns.producerLines;
import static io.jmesh.core.kafka.wire.ProducerRuns.stopListening;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.core.kafka.wire.ProducerRuns.Outcomes;
import io.jmesh.kafkalocal.LocalKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link WireProducer} on a cluster of two real KRaft brokers: while events flow, leaders move between the brokers,
 * one stops, dies or hangs. Every event must be acknowledged, stored once, on its key's partition and in order per
 * key, and a broker in trouble must hold back only its own partitions.
 */
@Timeout(300)
class WireProducerLeaderChangeTest {

    private static final int KEYS = 40;

    @TempDir
    static Path dir;
    static LocalKafka first;
    static LocalKafka second;
    static Admin admin;

    @BeforeAll
    static void startTwoBrokers() {
        // the controller fences a broker that stopped heartbeating after 3 s (9 by default); brokers forget a
        // producer silent for 3 s (a day by default)
        first = LocalKafka.builder().dataDir(dir.resolve("node-1")).nodeId(1)
                .brokerProperty("broker.session.timeout.ms", "3000")
                .brokerProperty("broker.heartbeat.interval.ms", "500")
                .brokerProperty("producer.id.expiration.ms", "3000")
                .brokerProperty("producer.id.expiration.check.interval.ms", "500").build().start();
        second = LocalKafka.builder().dataDir(dir.resolve("node-2")).nodeId(2).joining(first)
                .brokerProperty("broker.heartbeat.interval.ms", "500")
                .brokerProperty("producer.id.expiration.ms", "3000")
                .brokerProperty("producer.id.expiration.check.interval.ms", "500").build().start();
        admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, first.bootstrapServers()));
    }

    @AfterAll
    static void stopBrokers() {
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
        if (second != null) {
            second.close();
        }
        if (first != null) {
            first.close();
        }
    }

    @Test
    void eventsFollowTheirPartitionsLeaderAcrossBrokersAndAreStoredOnce() throws Exception {
        // phases: events flow to broker 2, which leads both partitions; partition 0 moves to broker 1; broker 2
        // stops cleanly; it comes back and leads partition 1 again; it is killed outright
        String topic = "moving-leaders";
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        // both partitions led by broker 2 and replicated on broker 1
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(2, 1), 1, List.of(2, 1))))).all().get();
        awaitPartitions(topic, d -> d.partitions().stream().allMatch(p -> p.isr().size() == 2
                && p.leader() != null && p.leader().id() == 2));

        ListAppender<ILoggingEvent> lines = producerLines();

        // only the first broker is named: the producer learns of the second from the metadata
        WireProducer producer = new WireProducer(new KafkaSettings(first.bootstrapServers(), 1024,
                Duration.ofSeconds(60)), "wire-leaders");
        Outcomes outcomes = new Outcomes();
        int sent = sendWhile(producer, topic, 0, outcomes, () -> outcomes.done() >= 300);
        assertThat(producer.leaderOf(topic, 0)).isEqualTo(2);
        assertThat(producer.leaderOf(topic, 1)).isEqualTo(2);

        // partition 0's leadership moves to broker 1 while events flow
        CompletableFuture<Void> moved = CompletableFuture.runAsync(() -> moveLeader(topic, p0, List.of(1, 2), 1));
        sent = sendWhile(producer, topic, sent, outcomes, moved::isDone);
        moved.get();
        drive(producer, () -> outcomes.done() == outcomes.sent.get());
        assertThat(producer.leaderOf(topic, 0)).as("the producer followed partition 0 to broker 1").isEqualTo(1);
        assertThat(producer.leaderOf(topic, 1)).isEqualTo(2);

        // broker 2, still leading partition 1, stops (a controlled shutdown hands partition 1 to broker 1)
        CompletableFuture<Void> stopped = CompletableFuture.runAsync(second::close);
        sent = sendWhile(producer, topic, sent, outcomes, stopped::isDone);
        stopped.get();
        drive(producer, () -> outcomes.done() == outcomes.sent.get());
        assertThat(producer.leaderOf(topic, 1)).as("the producer followed partition 1 to broker 1").isEqualTo(1);

        // broker 2 is back and leads partition 1 again, and partition 0 lives on broker 1 alone; then broker 2 dies
        // without a word: its connection breaks, partition 1's events wait until the controller fences it and hands
        // the partition to broker 1, while partition 0's flow on (one warning for all that, not one per retry)
        second.start();
        moveLeader(topic, p0, List.of(1), 1);
        moveLeader(topic, p1, List.of(2, 1), 2);
        sent = sendWhile(producer, topic, sent, outcomes, () -> producer.leaderOf(topic, 1) == 2);
        drive(producer, () -> outcomes.done() == outcomes.sent.get());
        ProcessHandle broker2 = second.process().orElseThrow();
        broker2.destroyForcibly();
        broker2.onExit().get(30, TimeUnit.SECONDS);
        sent = sendWhile(producer, topic, sent, outcomes, () -> producer.leaderOf(topic, 1) == 1);
        int n = sent;
        drive(producer, () -> outcomes.done() == n);

        assertThat(outcomes.failures).isEmpty();
        assertThat(outcomes.acknowledged).hasValue(n);
        assertThat(producer.heldBytes()).isZero();
        assertThat(describe(topic).partitions()).allSatisfy(p -> assertThat(p.leader().id()).isEqualTo(1));

        List<Long> ends = logEnds(topic);
        assertThat(ends.stream().mapToLong(Long::longValue).sum()).as("no event stored twice").isEqualTo(n);
        assertThat(ends).as("both partitions took events").allSatisfy(e -> assertThat(e).isPositive());

        List<ConsumerRecord<byte[], byte[]>> stored = readAll(List.of(p0, p1), n);
        assertThat(stored).hasSize(n);
        Map<String, Integer> lastOfKey = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : stored) {
            String key = new String(r.key(), StandardCharsets.UTF_8);
            int i = Integer.parseInt(new String(r.value(), StandardCharsets.UTF_8));
            assertThat(r.partition()).as("%s's partition", key).isEqualTo(KeyPartitioner.partition(r.key(), 2));
            assertThat(lastOfKey.getOrDefault(key, -1)).as("events of %s in order", key).isLessThan(i);
            lastOfKey.put(key, i);
        }
        producer.close(Duration.ofSeconds(5));
        stopListening(lines);

        // each time broker 2 went away: one warning, and one line once its partitions were served again
        List<String> said = lines.list.stream().map(e -> e.getLevel() + " " + e.getFormattedMessage()).toList();
        assertThat(said).as("the producer's lines").hasSizeBetween(2, 4).last().asString()
                .isEqualTo("INFO kafka reachable again");
        for (int i = 0; i < said.size(); i++) {
            assertThat(said.get(i)).as("line %d of %s", i, said).startsWith(i % 2 == 0 ? "WARN kafka produce to broker 2"
                    : "INFO kafka reachable again");
        }
    }


    /**
     * A broker that stops answering (SIGSTOP: its connections stay open, nothing comes back) holds back only the
     * partitions it leads: the other broker's events are acknowledged meanwhile, before the hung request could even
     * time out; once it answers again, its events arrive too, each once.
     */
    @Test
    void aHungBrokerHoldsBackOnlyItsOwnPartitions() throws Exception {
        String topic = onePartitionPerBroker("one-hangs");
        ListAppender<ILoggingEvent> lines = producerLines();
        // a request may wait 60 s for its answer (half the delivery timeout), far longer than this test needs
        WireProducer producer = new WireProducer(new KafkaSettings(first.bootstrapServers(), 1024,
                Duration.ofSeconds(120)), "wire-hung");
        Outcomes[] byPartition = {new Outcomes(), new Outcomes()};
        int n = sendAll(producer, topic, 0, 100, byPartition);
        assertThat(producer.leaderOf(topic, 1)).isEqualTo(2);

        ProcessHandle broker2 = second.process().orElseThrow();
        signal("STOP", broker2);
        try {
            int before1 = byPartition[1].done();
            for (; n < 300; n++) {
                send(producer, topic, n, byPartition);
            }
            // broker 2's partition cannot finish while it is stopped: wait for partition 0's alone
            drive(producer, () -> byPartition[0].done() == byPartition[0].sent.get());
            assertThat(byPartition[0].failures).isEmpty();
            assertThat(byPartition[1].done()).as("broker 2 answered nothing").isEqualTo(before1);
            assertThat(lines.list).as("no request failed or timed out: partition 0 did not wait for one")
                    .noneMatch(e -> e.getLevel().equals(ch.qos.logback.classic.Level.WARN));
        } finally {
            signal("CONT", broker2);
        }
        drive(producer, () -> byPartition[1].done() == byPartition[1].sent.get());
        assertThat(byPartition[1].failures).isEmpty();
        producer.close(Duration.ofSeconds(5));
        stopListening(lines);

        assertThat(logEnds(topic).stream().mapToLong(Long::longValue).sum()).as("every event stored once")
                .isEqualTo(n);
    }

    /**
     * Both brokers forget the producer while it is silent (after a day by default; 3 s here), then its next batches
     * go to both at once, numbered on from where they were: each event acknowledged and stored once, one producer
     * per partition. (Kafka 4 takes such batches as they come; an older broker refusing them as from an unknown
     * producer would have the producer resend them under a new id.)
     */
    @Test
    void aProducerTheBrokersForgotWhileSilentStillDeliversEachEventOnce() throws Exception {
        String topic = onePartitionPerBroker("forgetful");
        WireProducer producer = new WireProducer(new KafkaSettings(first.bootstrapServers(), 1024,
                Duration.ofSeconds(60)), "wire-forgotten");
        Outcomes[] byPartition = {new Outcomes(), new Outcomes()};
        sendAll(producer, topic, 0, 100, byPartition);
        TopicPartition p0 = new TopicPartition(topic, 0);

        // silent past the brokers' producer expiry: both forget it
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!admin.describeProducers(List.of(p0, new TopicPartition(topic, 1))).all().get().values().stream()
                .allMatch(s -> s.activeProducers().isEmpty())) {
            assertThat(System.nanoTime()).as("the brokers still know the producer after 30 s").isLessThan(deadline);
            Thread.sleep(200);
        }
        sendAll(producer, topic, 100, 200, byPartition);
        assertThat(byPartition[0].failures).isEmpty();
        assertThat(byPartition[1].failures).isEmpty();
        for (int p = 0; p < 2; p++) {
            TopicPartition tp = new TopicPartition(topic, p);
            assertThat(admin.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers())
                    .as("%s: one producer", tp).hasSize(1);
        }
        assertThat(logEnds(topic).stream().mapToLong(Long::longValue).sum()).as("every event stored once")
                .isEqualTo(200);
        producer.close(Duration.ofSeconds(5));
    }

    /** A topic whose partition 0 lives on broker 1 alone and partition 1 on broker 2 alone (started if need be). */
    private static String onePartitionPerBroker(String topic) throws Exception {
        if (!second.isRunning()) {
            second.start();
        }
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1), 1, List.of(2))))).all().get();
        awaitPartitions(topic, d -> d.partitions().stream().allMatch(p -> p.leader() != null
                && p.leader().id() == p.replicas().get(0).id()));
        return topic;
    }

    /** Sends events {@code from} to {@code to} (exclusive), waits until every one sent is done; returns {@code to}. */
    private static int sendAll(WireProducer producer, String topic, int from, int to, Outcomes[] byPartition)
            throws InterruptedException {
        for (int i = from; i < to; i++) {
            send(producer, topic, i, byPartition);
        }
        drive(producer, () -> byPartition[0].done() + byPartition[1].done() == to);
        return to;
    }

    /** The log end offset of each of {@code topic}'s two partitions: how many records each stores. */
    private static List<Long> logEnds(String topic) throws Exception {
        List<Long> ends = new java.util.ArrayList<>();
        for (int p = 0; p < 2; p++) {
            TopicPartition tp = new TopicPartition(topic, p);
            ends.add(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset());
        }
        return ends;
    }

    private static void send(WireProducer producer, String topic, int i, Outcomes[] byPartition) {
        byte[] key = ("k" + (i % KEYS)).getBytes(StandardCharsets.UTF_8);
        producer.send(topic, key, Integer.toString(i).getBytes(StandardCharsets.UTF_8),
                byPartition[KeyPartitioner.partition(key, 2)].next());
    }

    private static void signal(String signal, ProcessHandle process) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(kill.exitValue()).as("kill -%s %d", signal, process.pid()).isZero();
    }

    /**
     * Sends five events numbered from {@code from} about every 5 ms and runs the producer, as the publisher's sender
     * does, until {@code until} holds (at most a minute); returns the next number.
     */
    private static int sendWhile(WireProducer producer, String topic, int from, Outcomes outcomes,
            BooleanSupplier until) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        int i = from;
        while (!until.getAsBoolean()) {
            assertThat(System.nanoTime()).as("still sending after a minute: %s", producer.state()).isLessThan(deadline);
            for (int k = 0; k < 5; k++, i++) {
                byte[] key = ("k" + (i % KEYS)).getBytes(StandardCharsets.UTF_8);
                producer.send(topic, key, Integer.toString(i).getBytes(StandardCharsets.UTF_8), outcomes.next());
            }
            producer.sendDue();
            Thread.sleep(5);
        }
        return i;
    }

    /**
     * Makes {@code replicas}, whose first is {@code leader}, {@code tp}'s replicas and elects {@code leader} (again
     * while the replica is not yet back in sync, at most 30 s).
     */
    private static void moveLeader(String topic, TopicPartition tp, List<Integer> replicas, int leader) {
        try {
            admin.alterPartitionReassignments(Map.of(tp, Optional.of(
                    new NewPartitionReassignment(replicas)))).all().get();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            Throwable last = null;
            while (!ledBy(describe(topic), tp, leader, replicas)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("partition " + tp + " not led by broker " + leader + " after 30 s", last);
                }
                try {
                    last = admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get().get(tp)
                            .filter(e -> !(e instanceof ElectionNotNeededException)).orElse(null);
                } catch (ExecutionException e) {
                    last = e;
                }
                Thread.sleep(100);
            }
        } catch (InterruptedException | ExecutionException e) {
            throw new AssertionError(e);
        }
    }

    private static boolean ledBy(TopicDescription d, TopicPartition tp, int broker, List<Integer> replicas) {
        TopicPartitionInfo p = d.partitions().get(tp.partition());
        return p.leader() != null && p.leader().id() == broker
                && p.replicas().stream().map(n -> n.id()).toList().equals(replicas);
    }

    private static TopicDescription describe(String topic) throws InterruptedException, ExecutionException {
        return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
    }

    /** Waits (at most 30 s) until the topic's description satisfies {@code ready}; a topic just created may be unknown. */
    private static void awaitPartitions(String topic, Predicate<TopicDescription> ready) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        Object last = null;
        while (true) {
            try {
                TopicDescription d = describe(topic);
                if (ready.test(d)) {
                    return;
                }
                last = d;
            } catch (ExecutionException e) {
                last = e.getCause(); // not yet known to the broker the admin client asked
            }
            assertThat(System.nanoTime()).as("topic %s not ready: %s", topic, last).isLessThan(deadline);
            TimeUnit.MILLISECONDS.sleep(100);
        }
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(List<TopicPartition> partitions, int n) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        Map<String, Object> conf = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, first.bootstrapServers(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(conf, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            c.assign(partitions);
            c.seekToBeginning(partitions);
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (out.size() < n && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }
}
