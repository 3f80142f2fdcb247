package io.jmesh.ztunnel.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CaptureRulesTest {

    static final CaptureRules RULES = new CaptureRules(new CaptureRules.Settings("jmesh", 0x539, 0x111, "", 15001,
            15008, 15006, 15053, null));

    @Test
    void installReplacesOnlyItsOwnTableAndCarriesIstiosMarks() {
        String text = RULES.install();
        assertThat(text).startsWith("add table inet jmesh\ndelete table inet jmesh\ntable inet jmesh {\n")
                .doesNotContain("flush ruleset");
        assertThat(text).contains("type route hook output priority mangle; policy accept;\n"
                + "    meta mark 0x539 ct mark set 0x111\n");
        // ztunnel's own dial to a pod of this node (same-node tunnel) is routed back to the local table ...
        assertThat(text).containsSubsequence("meta mark 0x539 ct mark set 0x111\n",
                "meta mark 0x539 meta l4proto tcp ip daddr @ambient4 tcp dport 15008 meta mark set 0x111\n", "}");
        // ... and handed to our 15008 on lo first; then replies to ztunnel's sockets, outbound, HBONE inbound,
        // plaintext inbound
        assertThat(text).containsSubsequence(
                "iifname \"lo\" meta l4proto tcp ip daddr @ambient4 tcp dport 15008 tproxy ip to :15008 "
                        + "meta mark set 0x111 accept",
                "ct mark 0x111 meta mark set 0x111 accept",
                "iifname != \"lo\" meta l4proto tcp ip saddr @ambient4 fib daddr type != local tproxy ip to :15001 "
                        + "meta mark set 0x111 accept",
                "meta l4proto tcp ip daddr @ambient4 tcp dport 15008 tproxy ip to :15008 meta mark set 0x111 accept",
                "meta l4proto tcp ip daddr @ambient4 tproxy ip to :15006 meta mark set 0x111 accept",
                "ip6 saddr @ambient6 fib daddr type != local tproxy ip6 to :15001");
    }

    @Test
    void aPodInterfaceNarrowsOutboundToItAndInboundToTheOtherSide() throws Exception {
        String text = new CaptureRules(new CaptureRules.Settings("mesh_1", 1337, 273, "br0", 15001, 15008, 15006, 15053,
                InetAddress.getByName("10.10.1.1"))).install();
        assertThat(text).contains("iifname \"br0\" meta l4proto tcp ip saddr @ambient4")
                .contains("iifname != \"br0\" meta l4proto tcp ip daddr @ambient4 tcp dport 15008")
                .contains("table inet mesh_1 {");
        // TPROXY hands connections to the node address the listeners are bound to (IPv4 here), whatever interface
        // a packet arrives on; the other family's to its loopback, where ztunnel binds the same listeners (TPROXY
        // finds only sockets of the packet's family: with ":port" an IPv6 pod's traffic went out uncaptured)
        assertThat(text).contains("tproxy ip to 10.10.1.1:15001 ").contains("tproxy ip to 10.10.1.1:15008 ")
                .contains("tproxy ip to 10.10.1.1:15006 ").contains("tproxy ip6 to [::1]:15001 ")
                .contains("tproxy ip6 to [::1]:15008 ").contains("tproxy ip6 to [::1]:15006 ")
                .doesNotContain("to :150");
        assertThat(CaptureRules.twin(InetAddress.getByName("10.10.1.1"))).isEqualTo(InetAddress.getByName("::1"));
        assertThat(CaptureRules.twin(InetAddress.getByName("fd10::1"))).isEqualTo(InetAddress.getByName("127.0.0.1"));
        assertThat(CaptureRules.twin(InetAddress.getByName("0.0.0.0"))).isNull();
        // a dual-stack node: the other family's pod DNS goes to the node's address of that family (DNAT to ::1
        // would not be delivered); without one, that family's DNS is left alone
        String dual = new CaptureRules(new CaptureRules.Settings("jmesh", 1337, 273, "br0", 15001, 15008, 15006, 15053,
                InetAddress.getByName("10.10.1.1"), InetAddress.getByName("fd10:10:1::1"))).install();
        assertThat(dual).contains("ip saddr @ambient4 meta l4proto { tcp, udp } th dport 53 dnat ip to 10.10.1.1:15053")
                .contains("ip6 saddr @ambient6 meta l4proto { tcp, udp } th dport 53 dnat ip6 to [fd10:10:1::1]:15053")
                .contains("iifname \"br0\" meta l4proto tcp ip6 saddr @ambient6 tcp dport 53 accept")
                .contains("tproxy ip6 to [::1]:15008 ");
        assertThat(text).doesNotContain("ip6 saddr @ambient6 meta l4proto { tcp, udp } th dport 53");
        assertThat(new CaptureRules(new CaptureRules.Settings("jmesh", 1337, 273, "br0", 15001, 15008, 15006, -1,
                InetAddress.getByName("fd10::1"))).install()).contains("tproxy ip6 to [fd10::1]:15008 ")
                .contains("tproxy ip to 127.0.0.1:15008 ");
        // pods' DNS, UDP and TCP to any server's port 53, is DNAT'ed to the proxy on the node address; TCP/53 is
        // kept from the outbound TPROXY rule that would otherwise take it first. The proxy has no IPv6 address
        // here, so IPv6 DNS is left alone
        assertThat(text).containsSubsequence(
                "iifname \"br0\" meta l4proto tcp ip saddr @ambient4 tcp dport 53 accept\n",
                "iifname \"br0\" meta l4proto tcp ip saddr @ambient4 fib daddr type != local tproxy ip to 10.10.1.1:15001",
                "chain dns {\n    type nat hook prerouting priority -110; policy accept;\n"
                        + "    iifname \"br0\" ip saddr @ambient4 meta l4proto { tcp, udp } th dport 53 "
                        + "dnat ip to 10.10.1.1:15053\n  }\n}\n");
        assertThat(text).doesNotContain("ip6 saddr @ambient6 meta l4proto { tcp, udp }")
                .doesNotContain("ip6 saddr @ambient6 tcp dport 53");
    }

    @Test
    void dnsIsLeftAloneWithoutTheProxy() throws Exception {
        String text = new CaptureRules(new CaptureRules.Settings("jmesh", 1337, 273, "", 15001, 15008, 15006, -1,
                InetAddress.getByName("10.10.1.1"))).install();
        assertThat(text).doesNotContain("dport 53").doesNotContain("chain dns").doesNotContain("15053");
        // without a node address (any), both families are redirected to the arrival interface's address
        assertThat(RULES.install()).contains("ip saddr @ambient4 meta l4proto { tcp, udp } th dport 53 redirect to :15053")
                .contains("ip6 saddr @ambient6 meta l4proto { tcp, udp } th dport 53 redirect to :15053");
    }

    @Test
    void syncFlushesAndRefillsBothSetsInOneScript() throws Exception {
        String text = RULES.sync(List.of(InetAddress.getByName("10.10.1.12"), InetAddress.getByName("fd00::1"),
                InetAddress.getByName("10.10.1.11")));
        assertThat(text).isEqualTo("""
                flush set inet jmesh ambient4
                flush set inet jmesh ambient6
                add element inet jmesh ambient4 { 10.10.1.11, 10.10.1.12 }
                add element inet jmesh ambient6 { fd00:0:0:0:0:0:0:1 }
                """);
        assertThat(RULES.sync(List.of())).isEqualTo("flush set inet jmesh ambient4\nflush set inet jmesh ambient6\n");
    }

    @Test
    void removeIsValidWhetherOrNotTheTableExists() {
        assertThat(RULES.remove()).isEqualTo("add table inet jmesh\ndelete table inet jmesh\n");
    }

    @Test
    void settingsThatWouldInjectTextOrCollideAreRefusedByField() {
        assertThatThrownBy(() -> new CaptureRules.Settings("jm; flush ruleset", 1, 2, "", 1, 2, 3, -1, null))
                .hasMessageContaining("table: 'jm; flush ruleset'");
        assertThatThrownBy(() -> new CaptureRules.Settings("jmesh", 1, 2, "eth0\" accept", 1, 2, 3, -1, null))
                .hasMessageContaining("podInterface");
        assertThatThrownBy(() -> new CaptureRules.Settings("jmesh", 7, 7, "", 1, 2, 3, -1, null))
                .hasMessageContaining("two different marks");
    }

    @Test
    void onlyThisNodesHboneWorkloadsAreCaptured(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: a1, name: a1, namespace: ambient, addresses: [10.10.1.11], node: node-a, tunnelProtocol: HBONE}
                  - {uid: a2, name: a2, namespace: legacy, addresses: [10.10.1.12], node: node-a}
                  - {uid: b1, name: b1, namespace: ambient, addresses: [10.10.2.11], node: node-b, tunnelProtocol: HBONE}
                """);
        WorkloadIndex index = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        assertThat(CaptureController.ambientAddresses(index, "node-a"))
                .containsExactly(InetAddress.getByName("10.10.1.11"));
        assertThat(CaptureController.ambientAddresses(WorkloadIndex.EMPTY, "node-a")).isEmpty();
    }

    @Test
    void policyRoutingAddsTheRuleOnlyWhenMissingAndReplacesTheRoute() throws Exception {
        List<String> calls = new ArrayList<>();
        String[] rules = {"0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"};
        Commands fake = (cmd, stdin) -> {
            calls.add(String.join(" ", cmd));
            return cmd.contains("show") ? rules[0] : "";
        };
        PolicyRouting routing = new PolicyRouting("ip", 0x111, 133, false);
        routing.install(fake);
        assertThat(calls).containsExactly("ip -4 route replace local 0.0.0.0/0 dev lo table 133", "ip -4 rule show",
                "ip -4 rule add fwmark 0x111 lookup 133");
        calls.clear();
        rules[0] = "0:\tfrom all lookup local\n32765:\tfrom all fwmark 0x111 lookup 133\n32766:\tfrom all lookup main\n";
        routing.install(fake);
        assertThat(calls).containsExactly("ip -4 route replace local 0.0.0.0/0 dev lo table 133", "ip -4 rule show");
        calls.clear();
        assertThat(routing.remove(fake)).isEmpty();
        assertThat(calls).containsExactly("ip -4 rule show", "ip -4 rule del fwmark 0x111 lookup 133",
                "ip -4 route del local 0.0.0.0/0 dev lo table 133");
        assertThat(routing.hasRule("32765:\tfrom all fwmark 0x1111 lookup 1333")).isFalse();
    }

    @Test
    void transparentCaptureNeedsFixedPortsBecauseTheRulesNameThem() {
        assertThatThrownBy(() -> ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_LISTENERS_TRANSPARENT", "true", "MESH_LISTENERS_HBONE", "0")))
                .hasMessageContaining("listeners.hbone: 0 (expected: a fixed port");
        ZtunnelConfig.Capture defaults = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_LISTENERS_TRANSPARENT", "true")).config().capture();
        assertThat(defaults.socketMark()).isEqualTo(0x539);
        assertThat(defaults.captureMark()).isEqualTo(0x111);
        assertThat(defaults.routeTable()).isEqualTo(133);
    }
}
