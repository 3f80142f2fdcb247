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

    /** Replicas of a topic created with replication factor 0 ("automatic") on a cluster this large or larger. */
    static final int AUTOMATIC_REPLICAS = 3;

    /**
     * Creates {@code topic} compacted, or compacts it when it exists; blocking, call off the event loop.
     *
     * @param replicationFactor replicas when the topic is created; 0 = min(3, brokers of the cluster)
     */
    public static void ensure(String bootstrapServers, String topic, int replicationFactor, Duration timeout)
            throws InterruptedException, TimeoutException {
        try {
            create(bootstrapServers, topic, replicationFactor, timeout);
        } catch (ExecutionException e) {
            throw new IllegalStateException(topic + ": cannot check its cleanup policy: " + e.getCause().getMessage(),
                    e);
        }
    }

    /**
     * The replication factor to create the topic with: the configured one, or for 0 as many replicas as a 3-broker
     * cluster's operator expects, but no more than the cluster has brokers (a local single broker: 1).
     */
    static short replicationFactor(int configured, int brokers) {
        return (short) (configured > 0 ? configured : Math.max(1, Math.min(AUTOMATIC_REPLICAS, brokers)));
    }

    private static void create(String bootstrapServers, String topic, int configured, Duration timeout)
            throws InterruptedException, TimeoutException, ExecutionException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        // Kafka refuses an api timeout below the request timeout
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            short replicas = configured > 0 ? (short) configured : replicationFactor(0,
                    admin.describeCluster().nodes().get(timeout.toMillis(), TimeUnit.MILLISECONDS).size());
            NewTopic t = new NewTopic(topic, 1, replicas).configs(Map.of(
                    TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
            try {
                admin.createTopics(List.of(t)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                log.atInfo().addKeyValue("topic", topic).addKeyValue("replicationFactor", replicas)
                        .log("revocation topic created, compacted");
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new IllegalStateException("cannot create " + topic + " with " + describe(configured, replicas)
                            + ": " + e.getCause().getMessage(), e);
                }
                compact(admin, topic, timeout);
            }
        }
    }

    private static String describe(int configured, short replicas) {
        return configured > 0 ? "revocation.topicReplicationFactor " + configured
                : "replication factor " + replicas + " (revocation.topicReplicationFactor 0: min("
                        + AUTOMATIC_REPLICAS + ", brokers))";
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
