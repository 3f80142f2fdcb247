package io.jmesh.telemetry.ingest;

import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads and names the per-partition aggregate checkpoints in the compacted checkpoint topic. A checkpoint's key
 * is {@code <group>/<topic>/<partition>}; the latest committed record of a key wins.
 *
 * <p>To avoid re-reading the whole topic at every assignment it keeps an index (key → where its latest
 * checkpoint is) and, at each {@link #load}, only reads what was appended since the previous load.
 *
 * <p>Not thread-safe: used by the ingest thread only. Reads {@code read_committed}: checkpoints of aborted
 * transactions are never seen.
 */
final class CheckpointStore implements AutoCloseable {

    private record Location(TopicPartition partition, long offset) {}

    private final String topic;
    private final RemovedLabels removed;
    private final String group;
    private final KafkaConsumer<String, byte[]> reader;
    private final Map<String, Location> index = new HashMap<>();
    private final Map<TopicPartition, Long> scanned = new HashMap<>();

    /** @param removed the labels the aggregates it reads count without (a checkpoint's series are made to fit) */
    CheckpointStore(String bootstrapServers, String topic, String group, RemovedLabels removed) {
        this.removed = removed;
        this.topic = topic;
        this.group = group;
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, group + "-checkpoint-reader");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 16 * 1024 * 1024);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        this.reader = new KafkaConsumer<>(p);
    }

    /** The checkpoint record of {@code partition}'s aggregate, to send inside the offsets' transaction. */
    ProducerRecord<byte[], byte[]> record(TopicPartition partition, PartitionAggregate aggregate) {
        return new ProducerRecord<>(topic, key(partition).getBytes(StandardCharsets.UTF_8), aggregate.encode());
    }

    /**
     * What {@link #load} found.
     *
     * @param aggregates the latest committed aggregate of each partition that has a readable one
     * @param unreadable partitions whose latest checkpoint cannot be decoded (corrupt, or written by a newer
     *     version), with why
     */
    record Loaded(Map<TopicPartition, PartitionAggregate> aggregates, Map<TopicPartition, String> unreadable) {}

    /**
     * The latest committed checkpoints of {@code partitions}; partitions never checkpointed are in neither map.
     *
     * @throws org.apache.kafka.common.KafkaException when Kafka cannot be read within {@code timeout}
     */
    Loaded load(Collection<TopicPartition> partitions, Duration timeout) {
        Map<String, TopicPartition> wanted = new HashMap<>();
        for (TopicPartition tp : partitions) {
            wanted.put(key(tp), tp);
        }
        Map<String, byte[]> found = new HashMap<>();
        catchUp(wanted, found, timeout);
        // keys whose latest checkpoint was read by an earlier load: fetch it by offset
        for (Map.Entry<String, TopicPartition> w : wanted.entrySet()) {
            Location at = index.get(w.getKey());
            if (at != null && !found.containsKey(w.getKey())) {
                found.put(w.getKey(), fetch(at, timeout));
            }
        }
        Map<TopicPartition, PartitionAggregate> out = new HashMap<>();
        Map<TopicPartition, String> unreadable = new HashMap<>();
        for (Map.Entry<String, byte[]> f : found.entrySet()) {
            if (f.getValue() == null) {
                continue;
            }
            try {
                out.put(wanted.get(f.getKey()), PartitionAggregate.decode(f.getValue(), removed));
            } catch (IllegalArgumentException e) {
                unreadable.put(wanted.get(f.getKey()), "checkpoint " + f.getKey() + ": " + e.getMessage());
            }
        }
        return new Loaded(out, unreadable);
    }

    private void catchUp(Map<String, TopicPartition> wanted, Map<String, byte[]> found, Duration timeout) {
        List<PartitionInfo> infos = reader.partitionsFor(topic, timeout);
        List<TopicPartition> tps = new ArrayList<>();
        for (PartitionInfo i : infos) {
            tps.add(new TopicPartition(i.topic(), i.partition()));
        }
        reader.assign(tps);
        Map<TopicPartition, Long> end = reader.endOffsets(tps, timeout);
        for (TopicPartition tp : tps) {
            reader.seek(tp, scanned.getOrDefault(tp, 0L));
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!caughtUp(tps, end)) {
            if (System.nanoTime() > deadline) {
                throw new org.apache.kafka.common.errors.TimeoutException("checkpoint topic " + topic
                        + " not read to its end within " + timeout);
            }
            for (ConsumerRecord<String, byte[]> r : reader.poll(Duration.ofMillis(200))) {
                if (r.key() == null) {
                    continue;
                }
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (r.value() == null) {
                    index.remove(r.key());
                } else {
                    index.put(r.key(), new Location(tp, r.offset()));
                }
                if (wanted.containsKey(r.key())) {
                    found.put(r.key(), r.value());
                }
            }
        }
        for (TopicPartition tp : tps) {
            scanned.put(tp, reader.position(tp, timeout));
        }
    }

    private boolean caughtUp(List<TopicPartition> tps, Map<TopicPartition, Long> end) {
        for (TopicPartition tp : tps) {
            if (reader.position(tp) < end.getOrDefault(tp, 0L)) {
                return false;
            }
        }
        return true;
    }

    private byte[] fetch(Location at, Duration timeout) {
        reader.assign(List.of(at.partition()));
        reader.seek(at.partition(), at.offset());
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (ConsumerRecord<String, byte[]> r : reader.poll(Duration.ofMillis(200))) {
                if (r.offset() == at.offset()) {
                    return r.value();
                }
                if (r.offset() > at.offset()) {
                    // compacted away: a newer record of the same key exists and was indexed, or it was deleted
                    return null;
                }
            }
        }
        throw new org.apache.kafka.common.errors.TimeoutException("checkpoint at " + at + " not read within "
                + timeout);
    }

    private String key(TopicPartition tp) {
        return group + "/" + tp.topic() + "/" + tp.partition();
    }

    @Override
    public void close() {
        reader.close(Duration.ofSeconds(2));
    }
}
