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
    void removedMetricLabelsAreIstiosTrafficLabelsOtherThanReporter() {
        assertThat(load(Map.of()).metrics().removeLabels()).isEmpty();
        assertThat(load(Map.of()).metrics().removed().isEmpty()).isTrue();
        assertThat(load(Map.of("MESH_METRICS_REMOVE_LABELS", "[source_principal, response_code]")).metrics()
                .removeLabels()).containsExactly("source_principal", "response_code");
        assertThatThrownBy(() -> new TelemetryConfig.MetricsConfig(java.util.List.of("source_principal", "pod")))
                .hasMessageContaining("metrics.removeLabels: 'pod' is not a label of the istio_tcp_* and "
                        + "istio_request* metrics (expected some of: ");
        assertThatThrownBy(() -> new TelemetryConfig.MetricsConfig(java.util.List.of("reporter")))
                .hasMessageContaining("metrics.removeLabels: 'reporter' cannot be removed");
        assertThat(new TelemetryConfig.MetricsConfig(java.util.List.of("source_principal")).removed().names())
                .containsExactly("source_principal");
    }

    @Test
    void removedMetricLabelsComeFromTheConfigurationFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = dir.resolve("telemetry.yaml");
        java.nio.file.Files.writeString(file, "metrics: {removeLabels: [source_principal, destination_principal]}\n");
        assertThat(ConfigLoader.load(TelemetryConfig.class, "telemetry", file, Map.of()).config().metrics()
                .removeLabels()).containsExactly("source_principal", "destination_principal");
        java.nio.file.Files.writeString(file, "metrics: {removeLabels: [source_pod]}\n");
        assertThatThrownBy(() -> ConfigLoader.load(TelemetryConfig.class, "telemetry", file, Map.of()))
                .hasMessageContaining("metrics.removeLabels: 'source_pod' is not a label");
    }

    @Test
    void anOpenSeriesTtlShorterThanTheSeriesTtlIsRefusedNamingTheField() {
        assertThatThrownBy(() -> load(Map.of("MESH_OPEN_SERIES_TTL", "30m")))
                .hasMessageContaining("openSeriesTtl: PT30M (expected: >= seriesTtl, PT1H)");
    }
}
