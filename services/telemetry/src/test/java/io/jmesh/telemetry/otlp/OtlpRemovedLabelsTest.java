package io.jmesh.telemetry.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.metrics.v1.Metric;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The OTLP export leaves the labels of {@code metrics.removeLabels} out, as {@code /metrics} does. */
class OtlpRemovedLabelsTest {

    @Test
    void exportedPointsHaveNoRemovedAttribute() {
        PartitionAggregate a = new PartitionAggregate(0, RemovedLabels.of(List.of("destination_principal",
                "response_code")));
        a.add(Events.opened(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7), 1000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 503, 9), 1000);

        List<List<KeyValue>> points = new ArrayList<>();
        for (ExportMetricsServiceRequest r : OtlpMetricMapper.map(MeshTotals.of(List.of(a)), "test",
                new StreamStarts(), 1_000_000L)) {
            for (var rm : r.getResourceMetricsList()) {
                for (var sm : rm.getScopeMetricsList()) {
                    for (Metric m : sm.getMetricsList()) {
                        m.getSum().getDataPointsList().forEach(d -> points.add(d.getAttributesList()));
                        m.getHistogram().getDataPointsList().forEach(d -> points.add(d.getAttributesList()));
                        if (m.getName().equals("istio_requests")) {
                            assertThat(m.getSum().getDataPointsList()).singleElement()
                                    .satisfies(d -> assertThat(d.getAsInt()).isEqualTo(2));
                        }
                    }
                }
            }
        }
        assertThat(points).hasSize(5 + 4);
        for (List<KeyValue> attrs : points) {
            assertThat(attrs).extracting(KeyValue::getKey).doesNotContain("destination_principal", "response_code")
                    .contains("source_principal", "reporter", "partition");
        }
    }
}
