package io.jmesh.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A revocation is pruned at the earliest a CRL validity after its certificate expired, when every CRL signed while
 * the certificate was valid has passed its nextUpdate; a shorter wait is refused at start, naming the key.
 */
class RevocationPruneConfigTest {

    private static CaConfig load(String pruneAfterExpiry, String crlValidity) {
        return ConfigLoader.load(CaConfig.class, "ca", null, Map.of("MESH_STATE_DIR", "/tmp/unused",
                "MESH_REVOCATION_PRUNE_AFTER_EXPIRY", pruneAfterExpiry, "MESH_REVOCATION_CRL_VALIDITY", crlValidity))
                .config();
    }

    @Test
    void aWaitShorterThanTheCrlValidityIsRefusedNamingTheKey() {
        assertThatThrownBy(() -> load("1h", "24h")).hasMessageContaining("'revocation': pruneAfterExpiry: 1h"
                + " (expected: >= crlValidity 1d, so every CRL signed while the certificate was valid has passed"
                + " its nextUpdate)");
    }

    @Test
    void theDefaultIsAWeekAndAnExplicitWaitIsKept() {
        assertThat(ConfigLoader.load(CaConfig.class, "ca", null, Map.of("MESH_STATE_DIR", "/tmp/unused")).config()
                .revocation().pruneAfterExpiry()).isEqualTo(Duration.ofDays(7));
        assertThat(load("24h", "24h").revocation().pruneAfterExpiry()).isEqualTo(Duration.ofHours(24));
    }
}
