package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The revocation topic is created compacted, and on 3 replicas with 2 in sync per write (the choice of replicas and
 * the check of an existing topic are mesh-core's TopicReplication, tested there).
 */
class RevocationTopicReplicationTest {

    /** Kafka's recommendation with acks=all, which the revocation producer uses: 3 replicas, 2 in sync per write. */
    @Test
    void aTopicCreatedOnThreeReplicasOrMoreNeedsTwoInSyncPerWriteAndIsAlwaysCompacted() {
        assertThat(RevocationTopic.createConfigs((short) 3)).containsEntry("min.insync.replicas", "2")
                .containsEntry("cleanup.policy", "compact");
        assertThat(RevocationTopic.createConfigs((short) 5)).containsEntry("min.insync.replicas", "2");
        // fewer replicas: 2 in sync would stop revocations whenever one broker restarts
        assertThat(RevocationTopic.createConfigs((short) 2)).doesNotContainKey("min.insync.replicas");
        assertThat(RevocationTopic.createConfigs((short) 1)).containsOnlyKeys("cleanup.policy");
    }
}
