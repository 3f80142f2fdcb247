package io.jmesh.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The CRL is re-signed only when the state check runs: a check interval close to the CRL's validity would let a
 * CRL pass its nextUpdate before it is re-signed, and ztunnels refuse such a bundle ({@code crl_stale}).
 */
class CrlRefreshConfigTest {

    private static CaConfig load(String reloadInterval, String crlValidity) {
        return ConfigLoader.load(CaConfig.class, "ca", null, Map.of("MESH_STATE_DIR", "/tmp/unused",
                "MESH_STATE_RELOAD_INTERVAL", reloadInterval, "MESH_REVOCATION_CRL_VALIDITY", crlValidity)).config();
    }

    @Test
    void aCheckIntervalThatLetsTheCrlGoStaleIsRefused() {
        assertThatThrownBy(() -> load("3m", "2m"))
                .hasMessageContaining("stateReloadInterval: 3m (expected: <= revocation.crlValidity / 4 = 30s");
        assertThatThrownBy(() -> load("31s", "2m")).hasMessageContaining("stateReloadInterval: 31s");
    }

    @Test
    void aCheckIntervalWellInsideTheCrlValidityIsAccepted() {
        assertThat(load("30s", "2m").stateReloadInterval()).isEqualTo(Duration.ofSeconds(30));
        assertThat(load("1s", "24h").revocation().crlValidity()).isEqualTo(Duration.ofHours(24));
    }
}
