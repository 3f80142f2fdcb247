package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.telemetry.TelemetryConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The replica's name in its transactional id comes from the environment the chart fills with the pod's name
 * ({@code MESH_KAFKA_INSTANCE_ID}), so a container restarted in its pod fences its previous process's open
 * transaction at once ({@link TelemetryCrashIT} shows the fencing); without it each process picks a random one.
 */
class InstanceIdConfigTest {

    @Test
    void thePodNameTheChartPassesIsTheInstanceId() {
        assertThat(ConfigLoader.load(TelemetryConfig.class, "telemetry", null,
                Map.of("MESH_KAFKA_INSTANCE_ID", "telemetry-6c9f7d8b5-x2k4q")).config().kafka().instanceId())
                .isEqualTo("telemetry-6c9f7d8b5-x2k4q");
        assertThat(ConfigLoader.load(TelemetryConfig.class, "telemetry", null, Map.of()).config().kafka()
                .instanceId()).as("the default: random per process").isEmpty();
    }
}
