package io.jmesh.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** ca's maximum connection age: istiod's 30 min and 10 s grace unless set, and values that make no sense refused. */
class MaxConnectionAgeConfigTest {

    private static CaConfig load(Map<String, String> env) {
        java.util.HashMap<String, String> all = new java.util.HashMap<>(env);
        all.put("MESH_STATE_DIR", "/tmp/unused");
        return ConfigLoader.load(CaConfig.class, "ca", null, all).config();
    }

    @Test
    void istiodsAgeByDefaultAndBadValuesRefusedNamingTheKey() {
        CaConfig.Grpc g = load(Map.of()).grpc();
        assertThat(g.maxConnectionAge()).isEqualTo(Duration.ofMinutes(30));
        assertThat(g.maxConnectionAgeGrace()).isEqualTo(Duration.ofSeconds(10));
        assertThat(load(Map.of("MESH_GRPC_MAX_CONNECTION_AGE", "5m")).grpc().maxConnectionAge())
                .isEqualTo(Duration.ofMinutes(5));
        assertThatThrownBy(() -> load(Map.of("MESH_GRPC_MAX_CONNECTION_AGE", "0s")))
                .hasMessageContaining("grpc.maxConnectionAge: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load(Map.of("MESH_GRPC_MAX_CONNECTION_AGE_GRACE", "-1s")))
                .hasMessageContaining("'grpc.maxConnectionAgeGrace'");
        assertThat(load(Map.of("MESH_GRPC_MAX_CONNECTION_AGE_GRACE", "0s")).grpc().maxConnectionAgeGrace())
                .isZero();
    }
}
