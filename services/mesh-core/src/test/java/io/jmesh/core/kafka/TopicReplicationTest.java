package io.jmesh.core.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A created topic's replication factor: by default what an operator of a 3-broker cluster expects (3), and still 1
 * on a single local broker; an explicit one as given. On 3 replicas a write needs 2 in sync; an existing topic that
 * falls short of either is flagged, naming the setting.
 */
class TopicReplicationTest {

    static final TopicReplication AUTOMATIC = new TopicReplication("kafka.replicationFactor", 0);

    @Test
    void automaticIsThreeReplicasOrAsManyAsThereAreBrokers() {
        assertThat(AUTOMATIC.automatic()).isTrue();
        assertThat(AUTOMATIC.replicas(1)).isEqualTo((short) 1);
        assertThat(AUTOMATIC.replicas(2)).isEqualTo((short) 2);
        assertThat(AUTOMATIC.replicas(3)).isEqualTo((short) 3);
        assertThat(AUTOMATIC.replicas(7)).isEqualTo((short) 3);
        assertThat(AUTOMATIC.replicas(0)).as("no broker listed: still a valid factor").isEqualTo((short) 1);
    }

    @Test
    void anExplicitFactorIsUsedAsGiven() {
        assertThat(new TopicReplication("k", 2).replicas(1)).isEqualTo((short) 2);
        assertThat(new TopicReplication("k", 5).replicas(7)).isEqualTo((short) 5);
        assertThat(new TopicReplication("k", 2).describe((short) 2)).isEqualTo("k 2");
        assertThat(AUTOMATIC.describe((short) 1))
                .isEqualTo("replication factor 1 (kafka.replicationFactor 0: min(3, brokers))");
    }

    @Test
    void aNegativeOrOversizedFactorIsRefusedNamingTheSetting() {
        assertThatThrownBy(() -> new TopicReplication("kafka.replicationFactor", -1))
                .hasMessage("kafka.replicationFactor: -1 (expected: 1..32767 replicas, or 0 = min(3, number of"
                        + " brokers))");
        assertThatThrownBy(() -> new TopicReplication("kafka.replicationFactor", 40_000))
                .hasMessageStartingWith("kafka.replicationFactor: 40000 (expected: 1..32767");
    }

    /** Kafka's recommendation with acks=all, which every producer of ours uses: 3 replicas, 2 in sync per write. */
    @Test
    void aTopicCreatedOnThreeReplicasOrMoreNeedsTwoInSyncPerWrite() {
        Map<String, String> own = Map.of("cleanup.policy", "compact");
        assertThat(TopicReplication.createConfigs((short) 3, own)).containsEntry("min.insync.replicas", "2")
                .containsEntry("cleanup.policy", "compact");
        assertThat(TopicReplication.createConfigs((short) 5, Map.of())).containsEntry("min.insync.replicas", "2");
        // fewer replicas: 2 in sync would stop every write whenever one broker restarts
        assertThat(TopicReplication.createConfigs((short) 2, own)).doesNotContainKey("min.insync.replicas");
        assertThat(TopicReplication.createConfigs((short) 1, own)).containsOnlyKeys("cleanup.policy");
    }

    @Test
    void anExistingTopicBelowWhatIsAskedIsFlaggedNamingItsFactorAndTheAskedOne() {
        assertThat(AUTOMATIC.check("event topic", "t", 3, (short) 3, 2)).isEmpty();
        assertThat(new TopicReplication("k", 1).check("event topic", "t", 1, (short) 1, 1))
                .as("one replica, as configured").isEmpty();
        assertThat(AUTOMATIC.check("event topic", "t", 2, (short) 3, 2)).singleElement().satisfies(w -> {
            assertThat(w.reason()).isEqualTo("replication_factor");
            assertThat(w.message()).contains("event topic t has replication factor 2 where"
                    + " kafka.replicationFactor 0 asks min(3, brokers) = 3", "losing 2 brokers");
        });
        assertThat(AUTOMATIC.check("event topic", "t", 3, (short) 3, 1)).singleElement().satisfies(w -> {
            assertThat(w.reason()).isEqualTo("min_insync_replicas");
            assertThat(w.message()).contains("event topic t has min.insync.replicas 1 with replication factor 3");
        });
        assertThat(new TopicReplication("k", 3).check("event topic", "t", 2, (short) 3, 1))
                .extracting(TopicReplication.Warning::reason).containsExactly("replication_factor");
        assertThat(new TopicReplication("k", 3).check("event topic", "t", 1, (short) 3, 1)).singleElement()
                .satisfies(w -> assertThat(w.message()).contains("where k asks 3", "losing its broker"));
    }
}
