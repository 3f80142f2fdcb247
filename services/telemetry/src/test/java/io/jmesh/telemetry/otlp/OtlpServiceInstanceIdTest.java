package io.jmesh.telemetry.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.testing.MutableClock;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The resource's {@code service.instance.id}, as OpenTelemetry's semantic conventions define it: unique per replica,
 * and when the replica has an inherent unique name (its pod's) a UUID v5 of that name in the conventions' namespace
 * 4d63009a-8d0f-11ee-aad7-4c796ed8e320, so a process restarting in its pod exports under the same id (its series go
 * on, with a new start time) instead of leaving a new set of series behind at each restart.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OtlpServiceInstanceIdTest {

    private FakeMetricsCollector collector;
    private List<ExportMetricsServiceRequest> received;

    @BeforeEach
    void startCollector() throws Exception {
        collector = FakeMetricsCollector.start(0);
        received = collector.received();
    }

    @AfterEach
    void stopCollector() throws Exception {
        collector.close();
    }

    @Test
    void aPodNameGivesTheSameUuidV5InEveryProcessOfThePod() throws Exception {
        // python3: uuid.uuid5(uuid.UUID('4d63009a-8d0f-11ee-aad7-4c796ed8e320'), 'telemetry-6c9f7d8b5-x2k4q')
        String expected = "657de37b-9d6c-5238-a317-0ec25418873e";
        assertThat(exportedInstanceId("telemetry-6c9f7d8b5-x2k4q")).as("the first process of the pod")
                .isEqualTo(expected);
        assertThat(exportedInstanceId("telemetry-6c9f7d8b5-x2k4q")).as("the process after a restart in the pod")
                .isEqualTo(expected);
        assertThat(exportedInstanceId("telemetry-6c9f7d8b5-p7w2z")).as("another replica").isNotEqualTo(expected);
    }

    @Test
    void thePodNameTheChartPassesInTheEnvironmentIsTheName() {
        OtlpConfig otlp = ConfigLoader.load(TelemetryConfig.class, "telemetry", null,
                Map.of("MESH_OTLP_SERVICE_INSTANCE_ID", "telemetry-6c9f7d8b5-x2k4q")).config().otlp();
        assertThat(otlp.serviceInstanceId()).isEqualTo("telemetry-6c9f7d8b5-x2k4q");
        assertThat(ConfigLoader.load(TelemetryConfig.class, "telemetry", null, Map.of()).config().otlp()
                .serviceInstanceId()).as("the default").isEmpty();
    }

    @Test
    void withoutANameEachProcessHasARandomUuid() throws Exception {
        UUID first = UUID.fromString(exportedInstanceId(""));
        UUID second = UUID.fromString(exportedInstanceId(""));
        assertThat(first.version()).isEqualTo(4);
        assertThat(second).isNotEqualTo(first);
    }

    /** Starts an exporter (as a process would) with this serviceInstanceId, exports once, returns the id sent. */
    private String exportedInstanceId(String serviceInstanceId) throws Exception {
        received.clear();
        MutableClock clock = new MutableClock(Instant.parse("2026-12-02T12:00:00Z"));
        PartitionAggregate counted = new PartitionAggregate(0);
        counted.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), clock.millis());
        Vertx client = Vertx.vertx();
        try {
            OtlpMetricsExporter exporter = OtlpMetricsExporter.start(client,
                    new OtlpConfig(collector.endpoint(), Duration.ofHours(1), Duration.ofSeconds(30),
                            "", serviceInstanceId), () -> MeshTotals.of(List.of(counted)), clock,
                    new PrometheusRegistry());
            exporter.exportNow().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            exporter.close();
        } finally {
            client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        assertThat(received).as("requests the collector received").isNotEmpty();
        return received.get(0).getResourceMetrics(0).getResource().getAttributesList().stream()
                .filter(a -> a.getKey().equals("service.instance.id")).map(KeyValue::getValue)
                .map(v -> v.getStringValue()).findFirst().orElseThrow();
    }
}
