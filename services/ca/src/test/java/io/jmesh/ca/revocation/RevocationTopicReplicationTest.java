package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The revocation topic's replication factor: by default what an operator of a 3-broker cluster expects (3), and
 * still 1 on a single local broker; an explicit one as given.
 */
class RevocationTopicReplicationTest {

    @Test
    void automaticIsThreeReplicasOrAsManyAsThereAreBrokers() {
        assertThat(RevocationTopic.replicationFactor(0, 1)).isEqualTo((short) 1);
        assertThat(RevocationTopic.replicationFactor(0, 2)).isEqualTo((short) 2);
        assertThat(RevocationTopic.replicationFactor(0, 3)).isEqualTo((short) 3);
        assertThat(RevocationTopic.replicationFactor(0, 7)).isEqualTo((short) 3);
    }

    @Test
    void anExplicitFactorIsUsedAsGiven() {
        assertThat(RevocationTopic.replicationFactor(2, 1)).isEqualTo((short) 2);
        assertThat(RevocationTopic.replicationFactor(5, 7)).isEqualTo((short) 5);
    }
}
