package io.jmesh.telemetry.ingest;

import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates the topics telemetry uses when they are missing (local mode; in Kubernetes the chart creates them).
 * The checkpoint topic is compacted with short segments, so that only the latest checkpoint of each partition
 * survives and an assignment reads little.
 */
final class TopicSetup {

    /**
     * The largest record telemetry writes: a checkpoint (up to 16 MiB), or a dead letter (a record of an event
     * topic, plus headers). Topics created here take it; the broker's default (1 MiB) would refuse a large
     * checkpoint, or the dead letter of a bad record close to that default, and fail every transaction after it.
     */
    static final int MAX_RECORD_BYTES = 16 * 1024 * 1024 + 64 * 1024;

    private TopicSetup() {}

    /** True when every topic exists (created or already there); Kafka errors are thrown for a retry. */
    static boolean ensure(IngestConfig c, Duration timeout) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, c.bootstrapServers());
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!c.createTopics()) {
                for (String t : List.of(c.connectionTopic(), c.requestTopic(), c.deadLetterTopic(), c.checkpointTopic())) {
                    if (!existing.contains(t)) {
                        throw new IllegalStateException("topic " + t + " is missing (kafka.createTopics is false)");
                    }
                }
                return true;
            }
            List<NewTopic> missing = new ArrayList<>();
            short rf = 1;
            for (String t : List.of(c.connectionTopic(), c.requestTopic())) {
                if (!existing.contains(t)) {
                    missing.add(new NewTopic(t, c.partitions(), rf));
                }
            }
            String maxRecord = String.valueOf(MAX_RECORD_BYTES);
            if (!existing.contains(c.deadLetterTopic())) {
                missing.add(new NewTopic(c.deadLetterTopic(), c.partitions(), rf).configs(Map.of(
                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG, maxRecord)));
            }
            if (!existing.contains(c.checkpointTopic())) {
                missing.add(new NewTopic(c.checkpointTopic(), 1, rf).configs(Map.of(
                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG, maxRecord,
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                        TopicConfig.SEGMENT_MS_CONFIG, String.valueOf(Duration.ofMinutes(10).toMillis()),
                        TopicConfig.MIN_CLEANABLE_DIRTY_RATIO_CONFIG, "0.1")));
            }
            for (NewTopic t : missing) {
                try {
                    admin.createTopics(List.of(t)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new KafkaException("cannot create " + t.name() + ": " + e.getCause().getMessage(), e);
                    }
                }
            }
            return true;
        } catch (ExecutionException | TimeoutException e) {
            throw new KafkaException("topic setup: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KafkaException("interrupted", e);
        }
    }
}
