package io.jmesh.ca.revocation;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The revocation topic must be compacted (latest record per serial wins): created so when missing, and switched to
 * compaction when it exists with another cleanup policy (e.g. created by the broker on first use).
 */
public final class RevocationTopic {

    private static final Logger log = LoggerFactory.getLogger(RevocationTopic.class);

    private RevocationTopic() {}

    /** Creates {@code topic} compacted, or compacts it when it exists; blocking, call off the event loop. */
    public static void ensure(String bootstrapServers, String topic, Duration timeout)
            throws InterruptedException, TimeoutException {
        try {
            create(bootstrapServers, topic, timeout);
        } catch (ExecutionException e) {
            throw new IllegalStateException(topic + ": cannot check its cleanup policy: " + e.getCause().getMessage(),
                    e);
        }
    }

    private static void create(String bootstrapServers, String topic, Duration timeout)
            throws InterruptedException, TimeoutException, ExecutionException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        // Kafka refuses an api timeout below the request timeout
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            NewTopic t = new NewTopic(topic, 1, (short) 1).configs(Map.of(
                    TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
            try {
                admin.createTopics(List.of(t)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new IllegalStateException("cannot create " + topic + ": " + e.getCause().getMessage(), e);
                }
                compact(admin, topic, timeout);
            }
        }
    }

    private static void compact(Admin admin, String topic, Duration timeout)
            throws InterruptedException, TimeoutException, ExecutionException {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(List.of(resource)).all()
                .get(timeout.toMillis(), TimeUnit.MILLISECONDS).get(resource);
        ConfigEntry policy = config == null ? null : config.get(TopicConfig.CLEANUP_POLICY_CONFIG);
        if (policy != null && policy.value().contains(TopicConfig.CLEANUP_POLICY_COMPACT)) {
            return;
        }
        log.atWarn().addKeyValue("topic", topic).addKeyValue("cleanupPolicy", policy == null ? null : policy.value())
                .log("revocation topic is not compacted: switching it to cleanup.policy=compact");
        admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(new ConfigEntry(
                TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT), AlterConfigOp.OpType.SET))))
                .all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }
}
