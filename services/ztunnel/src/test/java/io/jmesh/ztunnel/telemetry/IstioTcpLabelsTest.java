package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Workload;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link IstioTcpLabels}: every label in Istio's order, the labels {@code telemetry.removeLabels} leaves out, and the
 * series names by which series expire read the labels they were built from.
 */
class IstioTcpLabelsTest {

    static final Workload SERVER = ConnectionTelemetryTest.SERVER.toBuilder().setNamespace("shop")
            .setClusterId("c1").build();
    static final ConnectionInfo CONNECTION = ConnectionTelemetryTest.outbound(ConnectionTelemetryTest.CLIENT, SERVER);

    @Test
    void aConnectionsLabelsNameEachPeerInIstiosOrder() {
        IstioTcpLabels all = IstioTcpLabels.ALL;
        String[] labels = all.of(CONNECTION, "UF");

        assertThat(all.names()).hasSize(23).startsWith("reporter", "source_workload")
                .endsWith("request_protocol", "response_flags", "connection_security_policy");
        assertThat(labels).containsExactly("source", "client", "client", "v1", "default",
                "spiffe://cluster.local/ns/default/sa/x", "client", "v1", "unknown",
                "unknown", "unknown", "unknown",
                "server", "server", "v1", "shop", "unknown", "server", "v1", "c1",
                "tcp", "UF", "mutual_tls");
        assertThat(labels[all.responseFlags()]).isEqualTo("UF");
        assertThat(all.sourceName(Arrays.asList(labels)))
                .isEqualTo(IstioTcpLabels.seriesName(ConnectionTelemetryTest.CLIENT)).isEqualTo("default/client");
        assertThat(all.destinationName(Arrays.asList(labels)))
                .isEqualTo(IstioTcpLabels.seriesName(SERVER)).isEqualTo("shop/server");
    }

    @Test
    void removedLabelsAreLeftOutOfNamesAndValuesAlike() {
        IstioTcpLabels fewer = IstioTcpLabels.without(List.of("source_principal", "destination_principal",
                "response_flags", "source_workload"));
        String[] labels = fewer.of(CONNECTION, "UF");

        assertThat(fewer.names()).hasSize(19).doesNotContain("source_principal", "destination_principal",
                "response_flags", "source_workload");
        assertThat(labels).containsExactly("source", "client", "v1", "default", "client", "v1", "unknown",
                "unknown", "unknown", "unknown",
                "server", "server", "v1", "shop", "server", "v1", "c1",
                "tcp", "mutual_tls");
        assertThat(fewer.responseFlags()).isEqualTo(-1);
        assertThat(fewer.sourceName(Arrays.asList(labels))).as("no workload label: no name to expire by").isNull();
        assertThat(fewer.destinationName(Arrays.asList(labels))).isEqualTo("shop/server");
    }

    @Test
    void onlyIstiosLabelsOtherThanReporterCanBeRemoved() {
        assertThatThrownBy(() -> IstioTcpLabels.without(List.of("source_app", "pod")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("telemetry.removeLabels: 'pod' is not a label of the istio_tcp_* metrics");
        assertThatThrownBy(() -> IstioTcpLabels.checkRemovable(List.of("reporter")))
                .hasMessageContaining("'reporter' cannot be removed");
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
