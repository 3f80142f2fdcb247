package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A Kafka whose ACLs forbid a step of the revocation topic's setup (a real broker with Kafka's StandardAuthorizer,
 * everything allowed but what a test denies): the failure names the ACL operation to grant, since Kafka's own
 * message ("Topic authorization failed.") names neither operation nor resource, and the running CA counts it.
 */
@Timeout(120)
class RevocationTopicAclTest {

    /** The principal of every client on the broker's PLAINTEXT listener. */
    static final String ANONYMOUS = "User:ANONYMOUS";

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension(b -> b
            .brokerProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
            .brokerProperty("allow.everyone.if.no.acl.found", "true"));

    @Test
    void aTopicWhoseConfigurationMayNotBeReadNamesDescribeConfigs() throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-no-describe-configs");
        kafka.createTopic(topic, 1, true);
        grantAllBut(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL), AclOperation.DESCRIBE_CONFIGS);

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThatThrownBy(
                () -> RevocationTopic.ensure(kafka.bootstrapServers(), topic, 0, Duration.ofSeconds(10)))
                .hasMessageContaining(topic + ": Kafka does not let this client's principal read its cleanup policy"
                        + " (TopicAuthorizationException): grant it DESCRIBE_CONFIGS on the topic"));
    }

    @Test
    void aTopicThatMayNotBeCreatedNamesCreate() throws Exception {
        String prefix = "revocations-no-create";
        String topic = KafkaExtension.uniqueTopic(prefix);
        ResourcePattern cluster = new ResourcePattern(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL);
        // an ACL on the cluster ends "allowed when no ACL is found" there: the broker itself needs the rest
        allow(cluster, AclOperation.ALL);
        deny(cluster, AclOperation.CREATE);
        grantAllBut(new ResourcePattern(ResourceType.TOPIC, prefix, PatternType.PREFIXED), AclOperation.CREATE);

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThatThrownBy(
                () -> RevocationTopic.ensure(kafka.bootstrapServers(), topic, 0, Duration.ofSeconds(10)))
                .hasMessageContaining(topic + ": Kafka does not let this client's principal create it")
                .hasMessageContaining("grant it CREATE on the topic or the cluster"));
    }

    /**
     * Least privilege: an operator created the topic compacted and granted ca what it needs on it, but not CREATE.
     * Kafka answers a CreateTopics of an existing topic the principal may not create with an authorization error, not
     * "exists": ca must find the topic before asking to create it, or it never publishes.
     */
    @Test
    void aTopicCreatedByAnOperatorIsUsedWithoutCreatePermission() throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-precreated");
        kafka.createTopic(topic, 1, false);
        ResourcePattern cluster = new ResourcePattern(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL);
        allow(cluster, AclOperation.ALL);
        deny(cluster, AclOperation.CREATE);
        grantAllBut(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL), AclOperation.CREATE);

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThatCode(
                () -> RevocationTopic.ensure(kafka.bootstrapServers(), topic, 0, Duration.ofSeconds(10)))
                .doesNotThrowAnyException());
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        assertThat(kafka.admin().describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS).get(resource)
                .get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo(TopicConfig.CLEANUP_POLICY_COMPACT);
    }

    @Test
    void aRunningCaCountsTheMissingPermission() throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-denied");
        kafka.createTopic(topic, 1, true);
        grantAllBut(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL), AclOperation.DESCRIBE_CONFIGS);
        CaServerExtension ca = CaServerExtension.builder().replica("ca-denied").kafka(kafka::bootstrapServers)
                .config("placement.source", "none").config("revocation.topic", topic)
                .config("audit.topic", KafkaExtension.uniqueTopic("audit")).build();
        ca.start();
        try {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(ca.metric(
                    "ca_revocation_topic_setup_failures_total", "reason", "not_authorized")).isPositive());
        } finally {
            ca.stop();
        }
    }

    private final List<AclBinding> acls = new ArrayList<>();

    /** Each test's ACLs go with it: one on the cluster would change what every later test may do. */
    @AfterEach
    void removeAcls() throws Exception {
        if (!acls.isEmpty()) {
            kafka.admin().deleteAcls(acls.stream().map(AclBinding::toFilter).toList()).all()
                    .get(30, TimeUnit.SECONDS);
        }
    }

    /**
     * Grants on {@code topic} what ca needs there but {@code missing} (once a resource has an ACL, Kafka no longer
     * allows everything on it by default), and denies {@code missing}.
     */
    private void grantAllBut(ResourcePattern topic, AclOperation missing) throws Exception {
        for (AclOperation op : List.of(AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
                AclOperation.WRITE, AclOperation.CREATE)) {
            if (op != missing) {
                allow(topic, op);
            }
        }
        deny(topic, missing);
    }

    private void allow(ResourcePattern resource, AclOperation operation) throws Exception {
        add(new AclBinding(resource, new AccessControlEntry(ANONYMOUS, "*", operation, AclPermissionType.ALLOW)));
    }

    private void deny(ResourcePattern resource, AclOperation operation) throws Exception {
        add(new AclBinding(resource, new AccessControlEntry(ANONYMOUS, "*", operation, AclPermissionType.DENY)));
    }

    private void add(AclBinding acl) throws Exception {
        kafka.admin().createAcls(List.of(acl)).all().get(30, TimeUnit.SECONDS);
        acls.add(acl);
    }
}
