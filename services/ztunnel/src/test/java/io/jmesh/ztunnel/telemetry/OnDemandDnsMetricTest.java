package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code istio_on_demand_dns_total}: Istio's labels, and series dropped with their source or their hostname. */
class OnDemandDnsMetricTest {

    static final Workload SLEEP = Workload.newBuilder().setUid("sleep-1").setName("sleep-1").setNamespace("default")
            .setCanonicalName("sleep").setCanonicalRevision("v1").setClusterId("c1")
            .addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, 1})).build();
    static final Workload DB = Workload.newBuilder().setUid("se/db").setName("db").setNamespace("default")
            .setHostname("db.example.com").build();

    final PrometheusRegistry registry = new PrometheusRegistry();
    final ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-a");

    @Test
    void countedWithTheSourcesLabelsAndTheHostnameUntilEitherIsGone() {
        telemetry.onDemandDns(SLEEP, SpiffeId.parse("spiffe://cluster.local/ns/default/sa/sleep"), "db.example.com");
        telemetry.onDemandDns(SLEEP, SpiffeId.parse("spiffe://cluster.local/ns/default/sa/sleep"), "db.example.com");
        assertThat(series()).singleElement().satisfies(s -> {
            assertThat(s.getValue()).isEqualTo(2.0);
            assertThat(s.getLabels().toString()).isEqualTo("{hostname=\"db.example.com\",source_app=\"sleep\","
                    + "source_canonical_revision=\"v1\",source_canonical_service=\"sleep\",source_cluster=\"c1\","
                    + "source_principal=\"spiffe://cluster.local/ns/default/sa/sleep\",source_version=\"v1\","
                    + "source_workload=\"sleep-1\",source_workload_namespace=\"default\"}");
        });
        telemetry.expire(index(SLEEP, DB));
        assertThat(series()).hasSize(1);
        telemetry.expire(index(SLEEP)); // no workload has that hostname any more
        assertThat(series()).isEmpty();

        telemetry.onDemandDns(SLEEP, null, "db.example.com");
        telemetry.expire(index(DB)); // the source is gone
        assertThat(series()).isEmpty();
    }

    List<CounterSnapshot.CounterDataPointSnapshot> series() {
        return registry.scrape().stream().filter(m -> m.getMetadata().getName().equals("istio_on_demand_dns"))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream()).toList();
    }

    static WorkloadIndex index(Workload... workloads) {
        Map<String, Address> all = new LinkedHashMap<>();
        for (Workload w : workloads) {
            all.put(w.getUid(), Address.newBuilder().setWorkload(w).build());
        }
        return WorkloadIndex.of(all);
    }
}
