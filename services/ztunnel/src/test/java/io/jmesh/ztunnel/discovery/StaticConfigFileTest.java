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

    @Test
    void numbersWrittenAsTextArePlainDigits() {
        // protobuf's JSON reader takes a number as text through Long.parseLong, then BigDecimal: "+80", "٨٠",
        // "80.0" and "8e1" were all port 80
        String svc = "services:\n  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local,"
                + " ports: [{servicePort: %s, targetPort: 8080}]}\n";
        for (String port : new String[] {"'+80'", "'\u0668\u0660'", "'80.0'", "'8e1'", "' 80'", "'-0'", "'0x50'"}) {
            String text = port.substring(1, port.length() - 1);
            assertThatThrownBy(() -> read(svc.formatted(port))).as(port)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageEndingWith("services[0].ports[0].servicePort: '" + text
                            + "' is not a number (expected: plain digits)");
        }
        String wl = "workloads:\n  - {uid: w, name: w, namespace: ns, addresses: [10.1.2.3],"
                + " services: {ns/s.ns.svc.cluster.local: {ports: [{servicePort: 80, target_port: '+8080'}]}}}\n";
        assertThatThrownBy(() -> read(wl)).hasMessageEndingWith(
                "workloads[0].services.ns/s.ns.svc.cluster.local.ports[0].target_port: '+8080' is not a number"
                        + " (expected: plain digits)");
        String authz = "authorizations:\n  - {name: p, namespace: ns, rules: [{clauses: [{matches: "
                + "[{destinationPorts: [80, '+443']}]}]}]}\n";
        assertThatThrownBy(() -> read(authz)).hasMessageEndingWith(
                "authorizations[0].rules[0].clauses[0].matches[0].destinationPorts[1]: '+443' is not a number"
                        + " (expected: plain digits)");
        String enumNumber = "workloads:\n  - {uid: w, name: w, namespace: ns, tunnelProtocol: '+1'}\n";
        assertThatThrownBy(() -> read(enumNumber)).hasMessageEndingWith(
                "workloads[0].tunnelProtocol: '+1' is not a number (expected: plain digits)");
        String enumName = "workloads:\n  - {uid: w, name: w, namespace: ns, tunnelProtocol: HBONEE}\n";
        assertThatThrownBy(() -> read(enumName)).hasMessageContaining("workloads[0]")
                .hasMessageContaining("HBONEE").hasMessageNotContaining("not a number");
        String wrapper = "workloads:\n  - {uid: w, name: w, namespace: ns, capacity: '+2'}\n";
        assertThatThrownBy(() -> read(wrapper)).hasMessageEndingWith(
                "workloads[0].capacity: '+2' is not a number (expected: plain digits)");
    }

    @Test
    void numbersAsDigitsOrTextDigitsAreRead() throws Exception {
        var c = read("""
                workloads:
                  - {uid: w, name: w, namespace: ns, addresses: [10.1.2.3], tunnelProtocol: '1', capacity: '2',
                     services: {ns/s.ns.svc.cluster.local: {ports: [{servicePort: '80', targetPort: 8080}]}}}
                services:
                  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local, ports: [{servicePort: '080',
                     targetPort: 8080}]}
                authorizations:
                  - {name: p, namespace: ns, rules: [{clauses: [{matches: [{destinationPorts: [80, '443']}]}]}]}
                """);
        WorkloadIndex index = WorkloadIndex.of(c.addresses());
        var w = index.workloadByIp(InetAddress.getByName("10.1.2.3"));
        assertThat(w.getTunnelProtocolValue()).isEqualTo(1);
        assertThat(w.getCapacity().getValue()).isEqualTo(2);
        assertThat(w.getServicesMap().get("ns/s.ns.svc.cluster.local").getPorts(0).getServicePort()).isEqualTo(80);
        assertThat(index.serviceByName("ns/s.ns.svc.cluster.local").getPorts(0).getServicePort()).isEqualTo(80);
        assertThat(c.authorizations().get(0).getRules(0).getClauses(0).getMatches(0).getDestinationPortsList())
                .containsExactly(80, 443);
    }
}
