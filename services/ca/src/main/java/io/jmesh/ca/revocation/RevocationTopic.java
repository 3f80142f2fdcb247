package io.jmesh.ca.revocation;

import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.core.kafka.TopicReplication.Warning;
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
import org.apache.kafka.clients.admin.TopicDescription;
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
 *
 * <p>Its replicas follow {@code revocation.topicReplicationFactor} as {@link TopicReplication} says (0: min(3,
 * brokers); {@code min.insync.replicas=2} when created on three or more); an existing topic with fewer replicas
 * than asked, or with 3 or more and {@code min.insync.replicas} below 2, is flagged, never altered.
 */
public final class RevocationTopic {

    private static final Logger log = LoggerFactory.getLogger(RevocationTopic.class);

    private RevocationTopic() {}

    /** The setting the revocation topic's replication factor comes from, named in messages. */
    static final String SETTING = "revocation.topicReplicationFactor";

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
     * @return what is wrong with the existing topic, each logged already; empty when created or fine
     * @throws NotAuthorized when an ACL forbids a step, naming the operation to grant
     */
    public static List<Warning> ensure(String bootstrapServers, String topic, int replicationFactor,
            Duration timeout) throws InterruptedException, TimeoutException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        // Kafka refuses an api timeout below the request timeout
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
        try (Admin admin = Admin.create(p)) {
            TopicReplication replication = new TopicReplication(SETTING, replicationFactor);
            short replicas = replication.replicas(!replication.automatic() ? 0
                    : step(topic, "DESCRIBE on the cluster (to count its brokers)", "describe the cluster",
                            () -> admin.describeCluster().nodes().get(timeout.toMillis(), TimeUnit.MILLISECONDS)
                                    .size()));
            // look first: Kafka answers a CreateTopics of an existing topic with an authorization error, not
            // "exists", when the principal may not create it (an operator created it, least privilege)
            TopicDescription existing = describe(admin, topic, timeout);
            if (existing == null && create(admin, topic, replication, replicas, timeout)) {
                return List.of();
            }
            if (existing == null) { // another replica created it meanwhile
                existing = describe(admin, topic, timeout);
            }
            Config config = compact(admin, topic, timeout);
            List<Warning> warnings = replication.check("revocation topic", topic,
                    existing == null ? replicas : TopicReplication.replicasOf(existing), replicas,
                    TopicReplication.minInSyncOf(config));
            for (Warning w : warnings) {
                log.atWarn().addKeyValue("topic", topic).addKeyValue("reason", w.reason()).log("{}", w.message());
            }
            return warnings;
        }
    }

    /** The configs ca creates the topic with: compacted, and on 3 replicas or more 2 in sync for a write. */
    static Map<String, String> createConfigs(short replicas) {
        return TopicReplication.createConfigs(replicas,
                Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
    }

    /** The topic's description, or null when it does not exist. */
    private static TopicDescription describe(Admin admin, String topic, Duration timeout)
            throws InterruptedException, TimeoutException {
        try {
            return step(topic, "DESCRIBE on the topic", "look it up", () -> admin.describeTopics(List.of(topic))
                    .allTopicNames().get(timeout.toMillis(), TimeUnit.MILLISECONDS)).get(topic);
        } catch (NotAuthorized e) {
            throw e;
        } catch (IllegalStateException e) {
            if (e.getCause() instanceof ExecutionException ee
                    && ee.getCause() instanceof UnknownTopicOrPartitionException) {
                return null;
            }
            throw e;
        }
    }

    /** @return whether the topic was created (false: another replica created it meanwhile) */
    private static boolean create(Admin admin, String topic, TopicReplication replication, short replicas,
            Duration timeout)
            throws InterruptedException, TimeoutException {
        NewTopic t = new NewTopic(topic, 1, replicas).configs(createConfigs(replicas));
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
            throw new IllegalStateException("cannot create " + topic + " with " + replication.describe(replicas)
                    + ": " + e.getCause().getCause().getMessage(), e.getCause());
        }
        log.atInfo().addKeyValue("topic", topic).addKeyValue("replicationFactor", replicas)
                .addKeyValue("configs", t.configs()).log("revocation topic created, compacted");
        return true;
    }

    /** Compacts the topic unless it is; returns its configs as read before (null if Kafka returned none). */
    private static Config compact(Admin admin, String topic, Duration timeout)
            throws InterruptedException, TimeoutException {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = step(topic, "DESCRIBE_CONFIGS on the topic", "read its cleanup policy",
                () -> admin.describeConfigs(List.of(resource)).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS)
                        .get(resource));
        ConfigEntry policy = config == null ? null : config.get(TopicConfig.CLEANUP_POLICY_CONFIG);
        if (policy != null && policy.value().contains(TopicConfig.CLEANUP_POLICY_COMPACT)) {
            return config;
        }
        log.atWarn().addKeyValue("topic", topic).addKeyValue("cleanupPolicy", policy == null ? null : policy.value())
                .log("revocation topic is not compacted: switching it to cleanup.policy=compact");
        step(topic, "ALTER_CONFIGS on the topic", "switch it to cleanup.policy=compact",
                () -> admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(new ConfigEntry(
                        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT),
                        AlterConfigOp.OpType.SET)))).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS));
        return config;
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
