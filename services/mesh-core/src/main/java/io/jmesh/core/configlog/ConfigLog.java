package io.jmesh.core.configlog;

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
import org.apache.kafka.clients.admin.NewTopic;
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

    /** Creates the compacted topic if it does not exist yet; blocking, call off the event loop. */
    public static void ensureTopic(String bootstrapServers, short replicationFactor, Duration timeout)
            throws InterruptedException, TimeoutException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            NewTopic topic = new NewTopic(TOPIC, 1, replicationFactor).configs(Map.of(
                    TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                    // keep tombstones long enough for a replica that was down a day to see deletes
                    TopicConfig.DELETE_RETENTION_MS_CONFIG, String.valueOf(Duration.ofDays(1).toMillis())));
            admin.createTopics(List.of(topic)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("cannot create " + TOPIC + ": " + e.getCause().getMessage(), e);
            }
        }
    }
}
