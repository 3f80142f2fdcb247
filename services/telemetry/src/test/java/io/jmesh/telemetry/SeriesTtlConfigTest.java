package io.jmesh.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The bound of a series with connections still open is the operator's, and cannot be shorter than the TTL. */
class SeriesTtlConfigTest {

    private static TelemetryConfig load(Map<String, String> env) {
        return ConfigLoader.load(TelemetryConfig.class, "telemetry", null, env).config();
    }

    @Test
    void theDefaultsKeepASeriesWithOpenConnectionsForAWeek() {
        TelemetryConfig c = load(Map.of());
        assertThat(c.seriesTtl()).isEqualTo(Duration.ofHours(1));
        assertThat(c.openSeriesTtl()).isEqualTo(Duration.ofDays(7));
        assertThat(load(Map.of("MESH_OPEN_SERIES_TTL", "2d")).openSeriesTtl()).isEqualTo(Duration.ofDays(2));
    }

    @Test
    void anOpenSeriesTtlShorterThanTheSeriesTtlIsRefusedNamingTheField() {
        assertThatThrownBy(() -> load(Map.of("MESH_OPEN_SERIES_TTL", "30m")))
                .hasMessageContaining("openSeriesTtl: PT30M (expected: >= seriesTtl, PT1H)");
    }
}
