package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local-mode file: Istio's proto shapes, IPs as text, and precise whole-file rejection. */
class StaticConfigFileTest {

    @TempDir
    Path dir;

    StaticConfigFile.Contents read(String yaml) throws Exception {
        Path f = dir.resolve("m.yaml");
        Files.writeString(f, yaml);
        return StaticConfigFile.read(f);
    }

    @Test
    void readsWorkloadsServicesAndAuthorizationsIntoAnIndex() throws Exception {
        var c = read("""
                workloads:
                  - {uid: w1, name: w1, namespace: ns, addresses: [10.1.2.3], node: n, tunnelProtocol: HBONE}
                services:
                  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local, addresses: [{address: 10.96.1.1}]}
                authorizations:
                  - {name: p, namespace: ns, action: DENY}
                """);
        WorkloadIndex index = WorkloadIndex.of(c.addresses());
        assertThat(index.workloadByIp(InetAddress.getByName("10.1.2.3")).getUid()).isEqualTo("w1");
        assertThat(index.serviceByVip(InetAddress.getByName("10.96.1.1")).getName()).isEqualTo("s");
        assertThat(index.serviceByName("ns/s.ns.svc.cluster.local")).isNotNull();
        assertThat(c.authorizations()).hasSize(1);
    }

    @Test
    void rejectsTheWholeFileWithTheIndexAndTheReason() {
        assertThatThrownBy(() -> read("workloads:\n  - {uid: a, namespace: ns, addresses: [not-an-ip]}\n"))
                .hasMessageContaining("workloads[0].addresses[0]").hasMessageContaining("not an IP");
        assertThatThrownBy(() -> read("workloads:\n  - {uid: a, namespace: ns}\n  - {uid: a, namespace: ns}\n"))
                .hasMessageContaining("workloads[1]").hasMessageContaining("duplicate");
        assertThatThrownBy(() -> read("workloads:\n  - {uid: a}\n")).hasMessageContaining("namespace is empty");
        assertThatThrownBy(() -> read("pods: []\n")).hasMessageContaining("unknown key 'pods'");
        assertThatThrownBy(() -> read("workloads:\n  - {uid: a, namespace: ns, colour: red}\n"))
                .hasMessageContaining("workloads[0]");
        assertThatThrownBy(() -> read("workloads:\n  - [a, b]\n"))
                .hasMessageContaining("workloads[0]: expected a mapping, found a list");
        assertThatThrownBy(() -> read("services:\n  - 42\n"))
                .hasMessageContaining("services[0]: expected a mapping, found an integer");
        assertThatThrownBy(() -> read("- a\n")).hasMessageContaining("expected a mapping with")
                .hasMessageContaining("found a list");
    }

    @Test
    void aServiceWithLoadBalancingZtunnelCannotApplyIsRejected() {
        String svc = "services:\n  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local, loadBalancing: %s}\n";
        assertThatThrownBy(() -> read(svc.formatted("{routingPreference: [NODE, UNSPECIFIED_SCOPE]}")))
                .hasMessageContaining("service ns/s.ns.svc.cluster.local: load_balancing.routing_preference[1] is"
                        + " UNSPECIFIED_SCOPE (expected: REGION, ZONE, SUBZONE, NODE, CLUSTER or NETWORK)");
        assertThatThrownBy(() -> read(svc.formatted("{routingPreference: [9]}")))
                .hasMessageContaining("load_balancing.routing_preference[0] is 9");
        assertThatThrownBy(() -> read(svc.formatted("{mode: 7}")))
                .hasMessageContaining("load_balancing.mode 7 is unknown");
    }

    @Test
    void aServiceWithLocalityLoadBalancingIsRead() throws Exception {
        var c = read("""
                services:
                  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local,
                     loadBalancing: {routingPreference: [NETWORK, REGION, ZONE, SUBZONE], mode: FAILOVER,
                                     healthPolicy: ALLOW_ALL}}
                """);
        var lb = WorkloadIndex.of(c.addresses()).serviceByName("ns/s.ns.svc.cluster.local").getLoadBalancing();
        assertThat(lb.getRoutingPreferenceCount()).isEqualTo(4);
        assertThat(lb.getMode().name()).isEqualTo("FAILOVER");
        assertThat(lb.getHealthPolicy().name()).isEqualTo("ALLOW_ALL");
    }
}
