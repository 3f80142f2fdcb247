package io.jmesh.telemetry.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * The admin server writes {@code /metrics} one family at a time, so that a scrape holds one family's snapshot: with
 * 100,000 partition series the five TCP families' snapshots are ~190 MiB together. Collecting one family must then
 * build that family only, not all nine and drop eight.
 */
class IstioMetricsFamiliesTest {

    @Test
    void collectingOneFamilyBuildsOnlyIt() {
        PartitionAggregate p = new PartitionAggregate(0);
        for (int i = 0; i < 5_000; i++) { // TCP series only: no data point of istio_requests
            p.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.workload("reviews-" + i, "reviews", "v2"),
                    "reviews"), 1000);
        }
        IstioMetrics metrics = new IstioMetrics(() -> MeshTotals.of(List.of(p)));
        allocatedBy(metrics, n -> true); // warm up

        long oneTcpFamily = allocatedBy(metrics, "istio_tcp_connections_opened"::equals);
        long requests = allocatedBy(metrics, "istio_requests"::equals);

        assertThat(metrics.collect("istio_tcp_connections_opened"::equals).size()).isEqualTo(1);
        assertThat(requests).as("bytes allocated to collect the empty istio_requests, against %d for one TCP family"
                + " of 5,000 series", oneTcpFamily).isLessThan(oneTcpFamily / 10);
    }

    private static long allocatedBy(IstioMetrics metrics, Predicate<String> names) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        MetricSnapshots s = metrics.collect(names);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(s).isNotNull();
        return allocated;
    }
}
