package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The revocation topic's replication factor: by default what an operator of a 3-broker cluster expects (3), and
 * still 1 on a single local broker; an explicit one as given. On 3 replicas a write needs 2 in sync; an existing
 * topic that falls short of either is flagged.
 */
class RevocationTopicReplicationTest {

    @Test
    void automaticIsThreeReplicasOrAsManyAsThereAreBrokers() {
        assertThat(RevocationTopic.replicationFactor(0, 1)).isEqualTo((short) 1);
        assertThat(RevocationTopic.replicationFactor(0, 2)).isEqualTo((short) 2);
        assertThat(RevocationTopic.replicationFactor(0, 3)).isEqualTo((short) 3);
        assertThat(RevocationTopic.replicationFactor(0, 7)).isEqualTo((short) 3);
    }

    /** Kafka's recommendation with acks=all, which the revocation producer uses: 3 replicas, 2 in sync per write. */
    @Test
    void aTopicCreatedOnThreeReplicasOrMoreNeedsTwoInSyncPerWrite() {
        assertThat(RevocationTopic.createConfigs((short) 3)).containsEntry("min.insync.replicas", "2")
                .containsEntry("cleanup.policy", "compact");
        assertThat(RevocationTopic.createConfigs((short) 5)).containsEntry("min.insync.replicas", "2");
        // fewer replicas: 2 in sync would stop revocations whenever one broker restarts
        assertThat(RevocationTopic.createConfigs((short) 2)).doesNotContainKey("min.insync.replicas");
        assertThat(RevocationTopic.createConfigs((short) 1)).containsOnlyKeys("cleanup.policy");
    }

    @Test
    void anExistingTopicBelowWhatIsAskedIsFlaggedNamingItsFactorAndTheAskedOne() {
        assertThat(RevocationTopic.check("revs", 3, 0, (short) 3, 2)).isEmpty();
        assertThat(RevocationTopic.check("revs", 1, 1, (short) 1, 1)).as("one replica, as configured").isEmpty();
        assertThat(RevocationTopic.check("revs", 2, 0, (short) 3, 2)).singleElement().satisfies(w -> {
            assertThat(w.reason()).isEqualTo("replication_factor");
            assertThat(w.message()).contains("revocation topic revs has replication factor 2 where"
                    + " revocation.topicReplicationFactor 0 asks min(3, brokers) = 3");
        });
        assertThat(RevocationTopic.check("revs", 3, 0, (short) 3, 1)).singleElement().satisfies(w -> {
            assertThat(w.reason()).isEqualTo("min_insync_replicas");
            assertThat(w.message()).contains("revocation topic revs has min.insync.replicas 1 with replication"
                    + " factor 3");
        });
        assertThat(RevocationTopic.check("revs", 2, 3, (short) 3, 1)).extracting(RevocationTopic.Warning::reason)
                .containsExactly("replication_factor");
    }

    @Test
    void anExplicitFactorIsUsedAsGiven() {
        assertThat(RevocationTopic.replicationFactor(2, 1)).isEqualTo((short) 2);
        assertThat(RevocationTopic.replicationFactor(5, 7)).isEqualTo((short) 5);
    }
}
