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
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The revocation topic must be compacted (latest record per serial wins): created so when missing, and switched to
 * compaction when it exists with another cleanup policy (e.g. created by the broker on first use). The ACLs ca
 * needs on it: DESCRIBE, DESCRIBE_CONFIGS, WRITE, and CREATE (topic or cluster) unless it exists, ALTER_CONFIGS
 * unless it is compacted; a missing one fails with {@link NotAuthorized} naming it.
 */
public final class RevocationTopic {

    private static final Logger log = LoggerFactory.getLogger(RevocationTopic.class);

    private RevocationTopic() {}

    /** Replicas of a topic created with replication factor 0 ("automatic") on a cluster this large or larger. */
    static final int AUTOMATIC_REPLICAS = 3;

    /**
     * Kafka refused a step to this client's principal (an ACL is missing): the message names the ACL operation and
     * resource to grant, since Kafka's own ("Topic authorization failed.") names neither.
     */
    public static final class NotAuthorized extends IllegalStateException {
        NotAuthorized(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** One call to the cluster, blocking. */
    @FunctionalInterface
    private interface Step<T> {
        T run() throws InterruptedException, TimeoutException, ExecutionException;
    }

    /**
     * Creates {@code topic} compacted, or compacts it when it exists; blocking, call off the event loop.
     *
     * @param replicationFactor replicas when the topic is created; 0 = min(3, brokers of the cluster)
     * @throws NotAuthorized when an ACL forbids a step, naming the operation to grant
     */
    public static void ensure(String bootstrapServers, String topic, int replicationFactor, Duration timeout)
            throws InterruptedException, TimeoutException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        // Kafka refuses an api timeout below the request timeout
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            short replicas = replicationFactor > 0 ? (short) replicationFactor : replicationFactor(0,
                    step(topic, "DESCRIBE on the cluster (to count its brokers)", "describe the cluster",
                            () -> admin.describeCluster().nodes().get(timeout.toMillis(), TimeUnit.MILLISECONDS)
                                    .size()));
            // look first: Kafka answers a CreateTopics of an existing topic with an authorization error, not
            // "exists", when the principal may not create it (an operator created it, least privilege)
            if (exists(admin, topic, timeout) || !create(admin, topic, replicationFactor, replicas, timeout)) {
                compact(admin, topic, timeout);
            }
        }
    }

    /**
     * The replication factor to create the topic with: the configured one, or for 0 as many replicas as a 3-broker
     * cluster's operator expects, but no more than the cluster has brokers (a local single broker: 1).
     */
    static short replicationFactor(int configured, int brokers) {
        return (short) (configured > 0 ? configured : Math.max(1, Math.min(AUTOMATIC_REPLICAS, brokers)));
    }

    private static boolean exists(Admin admin, String topic, Duration timeout)
            throws InterruptedException, TimeoutException {
        try {
            step(topic, "DESCRIBE on the topic", "look it up", () -> admin.describeTopics(List.of(topic))
                    .allTopicNames().get(timeout.toMillis(), TimeUnit.MILLISECONDS));
            return true;
        } catch (NotAuthorized e) {
            throw e;
        } catch (IllegalStateException e) {
            if (e.getCause() instanceof ExecutionException ee
                    && ee.getCause() instanceof UnknownTopicOrPartitionException) {
                return false;
            }
            throw e;
        }
    }

    /** @return whether the topic was created (false: another replica created it meanwhile) */
    private static boolean create(Admin admin, String topic, int configured, short replicas, Duration timeout)
            throws InterruptedException, TimeoutException {
        NewTopic t = new NewTopic(topic, 1, replicas).configs(Map.of(
                TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
        try {
            step(topic, "CREATE on the topic or the cluster", "create it",
                    () -> admin.createTopics(List.of(t)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS));
        } catch (IllegalStateException e) {
            if (e.getCause() instanceof ExecutionException ee && ee.getCause() instanceof TopicExistsException) {
                return false;
            }
            if (e instanceof NotAuthorized) {
                throw e;
            }
            throw new IllegalStateException("cannot create " + topic + " with " + describe(configured, replicas)
                    + ": " + e.getCause().getCause().getMessage(), e.getCause());
        }
        log.atInfo().addKeyValue("topic", topic).addKeyValue("replicationFactor", replicas)
                .log("revocation topic created, compacted");
        return true;
    }

    private static String describe(int configured, short replicas) {
        return configured > 0 ? "revocation.topicReplicationFactor " + configured
                : "replication factor " + replicas + " (revocation.topicReplicationFactor 0: min("
                        + AUTOMATIC_REPLICAS + ", brokers))";
    }

    private static void compact(Admin admin, String topic, Duration timeout)
            throws InterruptedException, TimeoutException {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = step(topic, "DESCRIBE_CONFIGS on the topic", "read its cleanup policy",
                () -> admin.describeConfigs(List.of(resource)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS)
                        .get(resource));
        ConfigEntry policy = config == null ? null : config.get(TopicConfig.CLEANUP_POLICY_CONFIG);
        if (policy != null && policy.value().contains(TopicConfig.CLEANUP_POLICY_COMPACT)) {
            return;
        }
        log.atWarn().addKeyValue("topic", topic).addKeyValue("cleanupPolicy", policy == null ? null : policy.value())
                .log("revocation topic is not compacted: switching it to cleanup.policy=compact");
        step(topic, "ALTER_CONFIGS on the topic", "switch it to cleanup.policy=compact",
                () -> admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(new ConfigEntry(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT),
                        AlterConfigOp.OpType.SET)))).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS));
    }

    /**
     * Runs one step; a refusal by an ACL becomes {@link NotAuthorized} naming {@code acl}, any other failure an
     * {@link IllegalStateException} whose cause is the {@link ExecutionException}.
     */
    private static <T> T step(String topic, String acl, String what, Step<T> step)
            throws InterruptedException, TimeoutException {
        try {
            return step.run();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AuthorizationException denied) {
                throw new NotAuthorized(topic + ": Kafka does not let this client's principal " + what + " ("
                        + denied.getClass().getSimpleName() + "): grant it " + acl, e);
            }
            throw new IllegalStateException(topic + ": cannot " + what + ": " + e.getCause().getMessage(), e);
        }
    }
}
