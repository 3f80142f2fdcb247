package io.jmesh.core.configlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The config log topic as policy creates it, on a real single KRaft broker. */
@Timeout(120)
class ConfigLogTopicTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static TopicReplication factor(int n) {
        return new TopicReplication("kafka.replicationFactor", n);
    }

    @Test
    void createdOnAsManyReplicasAsAskedAndAnUnderReplicatedOneIsFlaggedNotChanged() throws Exception {
        Duration timeout = Duration.ofSeconds(30);
        assertThatThrownBy(() -> ConfigLog.ensureTopic(kafka.bootstrapServers(), factor(2), timeout))
                .as("more replicas than the cluster has brokers")
                .hasMessageContaining("cannot create mesh.config.v1 with kafka.replicationFactor 2");

        assertThat(ConfigLog.ensureTopic(kafka.bootstrapServers(), factor(0), timeout)).isEmpty();
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        try (Admin admin = Admin.create(p)) {
            TopicDescription d = admin.describeTopics(List.of(ConfigLog.TOPIC)).allTopicNames()
                    .get(30, TimeUnit.SECONDS).get(ConfigLog.TOPIC);
            assertThat(TopicReplication.replicasOf(d)).as("0 on one broker: min(3, 1)").isEqualTo(1);
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, ConfigLog.TOPIC);
            assertThat(admin.describeConfigs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r)
                    .get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo(TopicConfig.CLEANUP_POLICY_COMPACT);
        }

        // the log exists with one replica where two are asked now: flagged for policy to log and count, left alone
        assertThat(ConfigLog.ensureTopic(kafka.bootstrapServers(), factor(2), timeout))
                .singleElement().satisfies(w -> {
                    assertThat(w.reason()).isEqualTo("replication_factor");
                    assertThat(w.message()).contains("config log mesh.config.v1 has replication factor 1 where"
                            + " kafka.replicationFactor asks 2");
                });
    }
}
