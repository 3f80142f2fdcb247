package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Workload;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * {@link IstioTcpLabels}: every label in Istio's order, and the series names by which series expire read the labels
 * they were built from.
 */
class IstioTcpLabelsTest {

    @Test
    void aConnectionsLabelsNameEachPeerInIstiosOrder() {
        Workload server = ConnectionTelemetryTest.SERVER.toBuilder().setNamespace("shop").setClusterId("c1").build();
        String[] labels = IstioTcpLabels.of(ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT, server),
                "UF");

        assertThat(labels).hasSize(IstioTcpLabels.NAMES.length);
        assertThat(labels).containsExactly("source", "client", "client", "v1", "default",
                "spiffe://cluster.local/ns/default/sa/x", "client", "v1", "unknown",
                "unknown", "unknown", "unknown",
                "server", "server", "v1", "shop", "unknown", "server", "v1", "c1",
                "tcp", "UF", "mutual_tls");
        assertThat(labels[IstioTcpLabels.RESPONSE_FLAGS]).isEqualTo("UF");
        assertThat(IstioTcpLabels.sourceName(Arrays.asList(labels)))
                .isEqualTo(IstioTcpLabels.seriesName(ConnectionTelemetryTest.CLIENT)).isEqualTo("default/client");
        assertThat(IstioTcpLabels.destinationName(Arrays.asList(labels)))
                .isEqualTo(IstioTcpLabels.seriesName(server)).isEqualTo("shop/server");
    }

    @Test
    void anOnDemandLookupsLabelsNameItsClientAndHostname() {
        String[] labels = IstioTcpLabels.onDemandDns(ConnectionTelemetryTest.CLIENT,
                SpiffeId.parse("spiffe://cluster.local/ns/default/sa/x"), "api.example.com");

        assertThat(labels).hasSize(IstioTcpLabels.ON_DEMAND_DNS_NAMES.length);
        assertThat(IstioTcpLabels.dnsSourceName(Arrays.asList(labels))).isEqualTo("default/client");
        assertThat(IstioTcpLabels.dnsHostname(Arrays.asList(labels))).isEqualTo("api.example.com");
    }

    @Test
    void aWorkloadWithoutANameHasNoSeriesName() {
        assertThat(IstioTcpLabels.seriesName(Workload.newBuilder().setNamespace("default").build())).isNull();
    }
}
