package io.jmesh.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The revocation topic's replication factor is the operator's to choose, and a bad one is refused at start. */
class RevocationTopicConfigTest {

    private static CaConfig load(String replicationFactor) {
        return ConfigLoader.load(CaConfig.class, "ca", null, Map.of("MESH_STATE_DIR", "/tmp/unused",
                "MESH_REVOCATION_TOPIC_REPLICATION_FACTOR", replicationFactor)).config();
    }

    @Test
    void aReplicationFactorBelowOneIsRefusedNamingTheField() {
        assertThatThrownBy(() -> load("-1")).hasMessageContaining("'revocation': topicReplicationFactor: -1 (expected: 1..32767 replicas, or 0 = min(3, number of brokers))");
        assertThatThrownBy(() -> load("40000")).hasMessageContaining("'revocation': topicReplicationFactor: 40000");
    }

    @Test
    void theDefaultIsAutomaticAndAnExplicitFactorIsKept() {
        assertThat(ConfigLoader.load(CaConfig.class, "ca", null, Map.of("MESH_STATE_DIR", "/tmp/unused")).config()
                .revocation().topicReplicationFactor()).isZero();
        assertThat(load("3").revocation().topicReplicationFactor()).isEqualTo(3);
    }
}
