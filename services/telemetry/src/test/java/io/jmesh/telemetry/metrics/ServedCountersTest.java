package io.jmesh.telemetry.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.Exposition;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A counter a replica serves never goes backwards while it is served: Prometheus reads any decrease as a reset
 * and counts the whole remaining value again. One Istio series is counted in several partitions (events are keyed
 * by source pod, and the pods of one workload share its series), so a part of it may expire while another part
 * stays.
 */
class ServedCountersTest {

    @Test
    void aSeriesExpiringInOnePartitionDoesNotTakeTheServedCounterBackwards() {
        PartitionAggregate p0 = new PartitionAggregate(-1);
        PartitionAggregate p1 = new PartitionAggregate(-1);
        // an old pod's connection counted on partition 0, a new pod's of the same workload on partition 1, later
        p0.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20), 1_000);
        p1.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 10, 20), 3_000_000);
        Map<String, Double> before = Exposition.samples(new IstioMetrics(() -> MeshTotals.of(List.of(p0, p1))));

        p0.expire(2_000_000, 0); // the old pod's part has been idle past the TTL; the new pod's is not
        Map<String, Double> after = Exposition.samples(new IstioMetrics(() -> MeshTotals.of(List.of(p0, p1))));

        assertThat(after).isNotEmpty();
        Exposition.assertNoneDecreased(before, after);
    }
}
