package io.jmesh.telemetry.ingest;

import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.core.kafka.TopicReplication.Warning;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates the topics telemetry uses when they are missing (nothing else creates them: the Helm chart neither), with
 * the replicas {@code kafka.replicationFactor} asks ({@link TopicReplication}); an existing one is never altered,
 * but one with fewer replicas than asked (or 3+ replicas and {@code min.insync.replicas} below 2) is flagged. The
 * checkpoint topic is compacted with short segments, so that only the latest checkpoint of each partition survives
 * and an assignment reads little.
 */
final class TopicSetup {

    private static final Logger log = LoggerFactory.getLogger(TopicSetup.class);

    /**
     * The largest record telemetry writes: a checkpoint (up to 16 MiB), or a dead letter (a record of an event
     * topic, plus headers). Topics created here take it; the broker's default (1 MiB) would refuse a large
     * checkpoint, or the dead letter of a bad record close to that default, and fail every transaction after it.
     */
    static final int MAX_RECORD_BYTES = 16 * 1024 * 1024 + 64 * 1024;

    private TopicSetup() {}

    /**
     * Makes sure every topic exists; blocking. Kafka errors are thrown for a retry.
     *
     * @return what is wrong with topics that existed already, each logged; empty when all were created or fine
     */
    static List<Warning> ensure(IngestConfig c, Duration timeout) {
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
                return List.of();
            }
            TopicReplication replication = c.replication();
            short replicas = replication.replicas(admin, timeout);
            String maxRecord = String.valueOf(MAX_RECORD_BYTES);
            Map<String, NewTopic> wanted = new LinkedHashMap<>();
            for (String t : List.of(c.connectionTopic(), c.requestTopic())) {
                wanted.put(t, new NewTopic(t, c.partitions(), replicas).configs(
                        TopicReplication.createConfigs(replicas, Map.of())));
            }
            wanted.put(c.deadLetterTopic(), new NewTopic(c.deadLetterTopic(), c.partitions(), replicas).configs(
                    TopicReplication.createConfigs(replicas, Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, maxRecord))));
            wanted.put(c.checkpointTopic(), new NewTopic(c.checkpointTopic(), 1, replicas).configs(
                    TopicReplication.createConfigs(replicas, Map.of(
                            TopicConfig.MAX_MESSAGE_BYTES_CONFIG, maxRecord,
                            TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                            TopicConfig.SEGMENT_MS_CONFIG, String.valueOf(Duration.ofMinutes(10).toMillis()),
                            TopicConfig.MIN_CLEANABLE_DIRTY_RATIO_CONFIG, "0.1"))));
            List<String> toCheck = new ArrayList<>();
            for (NewTopic t : wanted.values()) {
                if (existing.contains(t.name()) || !create(admin, t, replication, replicas, timeout)) {
                    toCheck.add(t.name());
                }
            }
            return check(admin, toCheck, replication, replicas, timeout);
        } catch (ExecutionException | TimeoutException e) {
            throw new KafkaException("topic setup: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KafkaException("interrupted", e);
        }
    }

    /** @return whether the topic was created (false: another replica created it meanwhile) */
    private static boolean create(Admin admin, NewTopic t, TopicReplication replication, short replicas,
            Duration timeout) throws InterruptedException, TimeoutException {
        try {
            admin.createTopics(List.of(t)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) {
                return false;
            }
            throw new KafkaException("cannot create " + t.name() + " with " + replication.describe(replicas) + ": "
                    + e.getCause().getMessage(), e);
        }
        log.atInfo().addKeyValue("topic", t.name()).addKeyValue("replicationFactor", replicas)
                .addKeyValue("configs", t.configs()).log("topic created");
        return true;
    }

    /** The replicas and {@code min.insync.replicas} of topics that existed, against what would be created. */
    private static List<Warning> check(Admin admin, List<String> topics, TopicReplication replication,
            short replicas, Duration timeout) throws InterruptedException, TimeoutException, ExecutionException {
        if (topics.isEmpty()) {
            return List.of();
        }
        Map<String, TopicDescription> described = admin.describeTopics(topics).allTopicNames()
                .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        List<ConfigResource> resources = topics.stream()
                .map(t -> new ConfigResource(ConfigResource.Type.TOPIC, t)).toList();
        Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all()
                .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        List<Warning> warnings = new ArrayList<>();
        for (ConfigResource r : resources) {
            for (Warning w : replication.check("telemetry topic", r.name(),
                    TopicReplication.replicasOf(described.get(r.name())), replicas,
                    TopicReplication.minInSyncOf(configs.get(r)))) {
                log.atWarn().addKeyValue("topic", r.name()).addKeyValue("reason", w.reason()).log("{}", w.message());
                warnings.add(w);
            }
        }
        return warnings;
    }
}
