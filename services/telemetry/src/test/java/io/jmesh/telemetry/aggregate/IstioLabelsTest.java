package io.jmesh.telemetry.aggregate;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import io.jmesh.telemetry.Events;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class IstioLabelsTest {

    @Test
    void aConnectionEventFillsIstiosTcpLabels() {
        Map<String, String> l = labels(IstioLabels.TCP.toArray(String[]::new),
                IstioLabels.of(Events.opened(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews")));
        assertThat(l).containsEntry("reporter", "destination")
                .containsEntry("source_workload", "productpage-v1")
                .containsEntry("source_workload_namespace", "default")
                .containsEntry("source_principal", "spiffe://cluster.local/ns/default/sa/bookinfo-productpage")
                .containsEntry("source_app", "productpage")
                .containsEntry("source_version", "v1")
                .containsEntry("source_cluster", "Kubernetes")
                .containsEntry("source_canonical_service", "productpage")
                .containsEntry("destination_service", "reviews.default.svc.cluster.local")
                .containsEntry("destination_service_name", "reviews")
                .containsEntry("destination_service_namespace", "default")
                .containsEntry("destination_workload", "reviews-v2")
                .containsEntry("destination_version", "v2")
                .containsEntry("request_protocol", "tcp")
                .containsEntry("response_flags", "-")
                .containsEntry("connection_security_policy", "mutual_tls");
    }

    /** Istio's ztunnel has two words, {@code mutual_tls} and {@code unknown}; ztunnel's own series say the same. */
    @Test
    void missingValuesAndPlaintextRenderAsUnknownAsZtunnelLabelsThem() {
        ConnectionEvent e = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, WorkloadInfo.getDefaultInstance(), null)
                .toBuilder().setSecurityPolicy(SecurityPolicy.NONE).setResponseFlags("CONNECT").build();
        Map<String, String> l = labels(IstioLabels.TCP.toArray(String[]::new), IstioLabels.of(e));
        assertThat(l).containsEntry("destination_workload", "unknown").containsEntry("destination_service", "unknown")
                .containsEntry("connection_security_policy", "unknown").containsEntry("response_flags", "CONNECT");
    }

    @Test
    void aWorkloadWithoutAWorkloadNameIsNamedByItsInstanceAsZtunnelLabelsIt() {
        // ztunnel's own istio_tcp_* series: source_workload = workload_name, else the instance (pod) name
        WorkloadInfo bare = Events.PRODUCTPAGE.toBuilder().clearWorkloadName().build();
        WorkloadInfo bareDst = Events.REVIEWS.toBuilder().clearWorkloadName().build();
        Map<String, String> l = labels(IstioLabels.TCP.toArray(String[]::new),
                IstioLabels.of(Events.opened(Reporter.SOURCE, bare, bareDst, "reviews")));
        assertThat(l).containsEntry("source_workload", "productpage-v1-abc12")
                .containsEntry("destination_workload", "reviews-v2-abc12");
    }

    @Test
    void aRequestEventAddsTheResponseLabels() {
        Map<String, String> l = labels(IstioLabels.REQUEST.toArray(String[]::new), IstioLabels.of(
                Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 503, 3)));
        assertThat(l).containsEntry("reporter", "waypoint").containsEntry("request_protocol", "http")
                .containsEntry("response_code", "503").containsEntry("grpc_response_status", "");
    }

    private static Map<String, String> labels(String[] names, SeriesKey key) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < names.length; i++) {
            m.put(names[i], key.value(i));
        }
        return m;
    }
}
