package io.jmesh.core.configlog;

import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.proto.config.v1.ConfigRecord;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Facts about the mesh configuration log, Kafka topic {@value #TOPIC}: compacted, key {@link ConfigKey}, value a
 * {@link ConfigRecord} or a tombstone.
 *
 * <p>One partition: every reader materializes the whole log, and a single partition gives all of them the same
 * order of writes, so two replicas at the same offset hold the same state.
 */
public final class ConfigLog {

    public static final String TOPIC = "mesh.config.v1";
    public static final int SCHEMA_VERSION = 1;

    private ConfigLog() {}

    /**
     * Creates the compacted topic if it does not exist yet, on {@code replication}'s replicas (2 in sync per write on
     * 3 or more); an existing one is left as it is, and what is wrong with it (fewer replicas than asked, 3 or more
     * with {@code min.insync.replicas} below 2) is returned for the caller to log and count. Blocking, call off the
     * event loop.
     */
    public static List<TopicReplication.Warning> ensureTopic(String bootstrapServers, TopicReplication replication,
            Duration timeout) throws InterruptedException, TimeoutException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            short replicas = replication.replicas(admin, timeout);
            NewTopic topic = new NewTopic(TOPIC, 1, replicas).configs(TopicReplication.createConfigs(replicas, Map.of(
                    TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                    // keep tombstones long enough for a replica that was down a day to see deletes
                    TopicConfig.DELETE_RETENTION_MS_CONFIG, String.valueOf(Duration.ofDays(1).toMillis()))));
            try {
                admin.createTopics(List.of(topic)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                return List.of();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new IllegalStateException("cannot create " + TOPIC + " with " + replication.describe(replicas)
                            + ": " + e.getCause().getMessage(), e);
                }
            }
            TopicDescription existing = admin.describeTopics(List.of(TOPIC)).allTopicNames()
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS).get(TOPIC);
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            Config config = admin.describeConfigs(List.of(resource)).all()
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS).get(resource);
            return replication.check("config log", TOPIC, TopicReplication.replicasOf(existing), replicas,
                    TopicReplication.minInSyncOf(config));
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot check " + TOPIC + ": " + e.getCause().getMessage(), e);
        }
    }
}
