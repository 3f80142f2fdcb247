package io.jmesh.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** ca's gRPC keepalive: istiod's 30 s/10 s unless set, and a value that would never PING or never wait refused. */
class KeepaliveConfigTest {

    private static CaConfig load(Map<String, String> env) {
        java.util.HashMap<String, String> all = new java.util.HashMap<>(env);
        all.put("MESH_STATE_DIR", "/tmp/unused");
        return ConfigLoader.load(CaConfig.class, "ca", null, all).config();
    }

    @Test
    void istiodsScheduleByDefaultAndNonPositiveValuesRefusedNamingTheKey() {
        CaConfig.Grpc g = load(Map.of()).grpc();
        assertThat(g.keepaliveInterval()).isEqualTo(Duration.ofSeconds(30));
        assertThat(g.keepaliveTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(load(Map.of("MESH_GRPC_KEEPALIVE_TIMEOUT", "2s")).grpc().keepaliveTimeout())
                .isEqualTo(Duration.ofSeconds(2));
        assertThatThrownBy(() -> load(Map.of("MESH_GRPC_KEEPALIVE_INTERVAL", "0s")))
                .hasMessageContaining("grpc.keepaliveInterval: PT0S (expected: > 0)");
    }
}
