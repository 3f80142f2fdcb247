package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.TopicDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * The topics telemetry creates (the event topics, the dead letters and the checkpoints that make its counting
 * exactly-once) get the replicas {@code kafka.replicationFactor} asks: on a production Kafka one broker must not
 * hold them alone. On the tests' single broker the default (0: min(3, brokers)) is 1 replica, and asking for more
 * than the cluster has is refused naming the topic and the setting.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TopicReplicationTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    /** Telemetry's configuration as the service reads it, with topics of its own under {@code prefix}. */
    private static IngestConfig load(String prefix, Map<String, String> env) {
        Map<String, String> all = new HashMap<>(env);
        all.put("MESH_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrapServers());
        all.put("MESH_KAFKA_CONNECTION_TOPIC", prefix + ".l4");
        all.put("MESH_KAFKA_REQUEST_TOPIC", prefix + ".l7");
        all.put("MESH_KAFKA_DEAD_LETTER_TOPIC", prefix + ".dlq");
        all.put("MESH_KAFKA_CHECKPOINT_TOPIC", prefix + ".checkpoints");
        return ConfigLoader.load(TelemetryConfig.class, "telemetry", null, all).config().kafka();
    }

    private static List<String> topics(IngestConfig c) {
        return List.of(c.connectionTopic(), c.requestTopic(), c.deadLetterTopic(), c.checkpointTopic());
    }

    @Test
    void byDefaultEveryTopicGetsAsManyReplicasAsTheSingleBrokerHolds() throws Exception {
        IngestConfig c = load(KafkaExtension.uniqueTopic("rf-default"), Map.of());
        assertThat(TopicSetup.ensure(c, Duration.ofSeconds(30))).as("warnings").isEmpty();
        // a topic just created may take a moment to be described
        Map<String, TopicDescription> created = await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
                .until(() -> kafka.admin().describeTopics(topics(c)).allTopicNames().get(30, TimeUnit.SECONDS),
                        m -> m.size() == 4);
        assertThat(created).allSatisfy((name, d) -> assertThat(d.partitions())
                .allSatisfy(p -> assertThat(p.replicas()).as(name).hasSize(1)));
    }

    /** An explicit factor is used as given, for every topic: more replicas than brokers is refused, naming both. */
    @Test
    void aReplicationFactorTheClusterCannotHoldIsRefusedNamingTheTopicAndTheSetting() {
        IngestConfig c = load(KafkaExtension.uniqueTopic("rf-two"), Map.of("MESH_KAFKA_REPLICATION_FACTOR", "2"));
        assertThatThrownBy(() -> TopicSetup.ensure(c, Duration.ofSeconds(30)))
                .hasMessageContaining("cannot create " + c.connectionTopic() + " with kafka.replicationFactor 2: ")
                .hasMessageContaining("1 broker");
    }

    @Test
    void aNegativeReplicationFactorIsRefusedNamingTheSetting() {
        assertThatThrownBy(() -> load("rf-negative", Map.of("MESH_KAFKA_REPLICATION_FACTOR", "-1")))
                .hasMessageContaining("'kafka': replicationFactor: -1 (expected: 1..32767 replicas, or 0 = min(3,"
                        + " number of brokers))");
    }

    /**
     * An existing topic keeps its replicas (only a partition reassignment changes them), but one with fewer than
     * {@code kafka.replicationFactor} asks is one broker's loss away from losing events or checkpoints: logged naming
     * the topic, what it has and what is asked, and counted; telemetry still starts on it.
     */
    @Test
    void existingTopicsWithFewerReplicasThanAskedAreFlaggedCountedAndLeftAlone() throws Exception {
        IngestConfig one = TelemetryInstance.ingest(kafka.bootstrapServers(),
                KafkaExtension.uniqueTopic("rf-existing"), "a");
        for (String t : topics(one)) {
            kafka.createTopic(t, 1, t.equals(one.checkpointTopic()));
        }
        IngestConfig two = new IngestConfig(one.bootstrapServers(), one.groupId(), one.instanceId(),
                one.connectionTopic(), one.requestTopic(), one.deadLetterTopic(), one.checkpointTopic(),
                one.commitInterval(), true, one.partitions(), 2);
        Logger logger = (Logger) LoggerFactory.getLogger(TopicSetup.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        try (TelemetryInstance t = TelemetryInstance.start(two)) {
            assertThat(t.sample("telemetry_topic_config_warnings_total", "reason", "replication_factor"))
                    .isEqualTo(4);
            assertThat(t.sample("telemetry_topic_config_warnings_total", "reason", "min_insync_replicas")).isZero();
            assertThat(lines.list).filteredOn(e -> e.getLevel() == Level.WARN)
                    .extracting(ILoggingEvent::getFormattedMessage).hasSize(4)
                    .anySatisfy(m -> assertThat(m).contains("telemetry topic " + one.checkpointTopic()
                            + " has replication factor 1 where kafka.replicationFactor asks 2"));
        } finally {
            logger.detachAppender(lines);
        }
        assertThat(kafka.admin().describeTopics(topics(one)).allTopicNames().get(30, TimeUnit.SECONDS))
                .as("not altered").allSatisfy((name, d) -> assertThat(d.partitions().get(0).replicas()).hasSize(1));
    }
}
