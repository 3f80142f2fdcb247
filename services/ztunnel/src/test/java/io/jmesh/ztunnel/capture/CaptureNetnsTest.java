package io.jmesh.ztunnel.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.admin.Readiness;
import io.jmesh.testing.netns.TwoNodeLab;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code nft} and {@code ip} in a network namespace this test creates (root only; skipped with the reason
 * elsewhere): the table, the sets and the policy routing appear, follow the workloads and are gone after close.
 */
class CaptureNetnsTest {

    static final String NS = "jmcap" + ProcessHandle.current().pid();
    static final Commands IN_NAMESPACE = (cmd, stdin) -> {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", NS));
        full.addAll(cmd);
        return Commands.processes(Duration.ofSeconds(10)).run(full, stdin);
    };
    static Vertx vertx;

    @TempDir
    Path dir;

    @BeforeAll
    static void namespace() throws Exception {
        String reason = unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        Commands.processes(Duration.ofSeconds(10)).run(List.of("ip", "netns", "add", NS), "");
        IN_NAMESPACE.run(List.of("ip", "link", "set", "lo", "up"), "");
        vertx = Vertx.vertx();
    }

    /** Why this cannot run here: no root / namespaces (TwoNodeLab's checks), or no nft. */
    static String unavailableReason() {
        String reason = TwoNodeLab.unavailableReason();
        if (reason != null) {
            return reason;
        }
        try {
            Commands.processes(Duration.ofSeconds(10)).run(List.of("nft", "--version"), "");
            return null;
        } catch (Commands.CommandFailure e) {
            return "nftables' `nft` is not usable (Debian package nftables): " + e.getMessage();
        }
    }

    @AfterAll
    static void remove() throws Exception {
        if (vertx != null) {
            vertx.close().await();
        }
        try {
            Commands.processes(Duration.ofSeconds(10)).run(List.of("ip", "netns", "del", NS), "");
        } catch (Commands.CommandFailure e) {
            // not made (skipped) or already gone
        }
    }

    static String inNs(String... cmd) throws Commands.CommandFailure {
        return IN_NAMESPACE.run(List.of(cmd), "");
    }

    @Test
    void rulesFollowTheAmbientWorkloadsAndAreRemovedOnClose() throws Exception {
        Readiness readiness = new Readiness();
        CaptureController c = new CaptureController(vertx, "node-a", CaptureRulesTest.RULES,
                new PolicyRouting("ip", 0x111, 133, true), IN_NAMESPACE, "nft", Duration.ofSeconds(1),
                readiness.register("capture"), new PrometheusRegistry(), true);
        c.arm();
        c.update(Mesh.of(dir, """
                  - {uid: a1, name: a1, namespace: ambient, addresses: [10.10.1.11], node: node-a, tunnelProtocol: HBONE}
                  - {uid: a2, name: a2, namespace: legacy, addresses: [10.10.1.12], node: node-a}
                  - {uid: a3, name: a3, namespace: ambient, addresses: ["fd00::11"], node: node-a, tunnelProtocol: HBONE}
                  - {uid: b1, name: b1, namespace: ambient, addresses: [10.10.2.11], node: node-b, tunnelProtocol: HBONE}
                """));
        await().atMost(Duration.ofSeconds(20)).until(readiness::isReady);
        String table = inNs("nft", "list", "table", "inet", "jmesh");
        assertThat(table).contains("elements = { 10.10.1.11 }").contains("elements = { fd00::11 }")
                .doesNotContain("10.10.1.12").doesNotContain("10.10.2.11")
                .contains("tproxy ip to :15001").contains("tproxy ip to :15008").contains("tproxy ip to :15006")
                .contains("meta mark 0x00000539 ct mark set 0x00000111")
                .contains("type nat hook prerouting priority dstnat - 10; policy accept;")
                .contains("th dport 53 redirect to :15053");
        assertThat(inNs("ip", "-4", "rule", "show")).contains("fwmark 0x111 lookup 133");
        assertThat(inNs("ip", "-6", "rule", "show")).contains("fwmark 0x111 lookup 133");
        assertThat(inNs("ip", "-4", "route", "show", "table", "133")).contains("local default dev lo");

        c.update(Mesh.of(dir, """
                  - {uid: a2, name: a2, namespace: legacy, addresses: [10.10.1.12], node: node-a, tunnelProtocol: HBONE}
                """));
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(inNs("nft", "list", "table", "inet", "jmesh")).contains("elements = { 10.10.1.12 }")
                        .doesNotContain("10.10.1.11").doesNotContain("fd00::11"));

        // a second ztunnel start (after a crash, or while the first drains) finds everything in place, installs its
        // own table and keeps one rule
        CaptureController again = new CaptureController(vertx, "node-a", CaptureRulesTest.RULES,
                new PolicyRouting("ip", 0x111, 133, true), IN_NAMESPACE, "nft", Duration.ofSeconds(1),
                new Readiness().register("capture"), new PrometheusRegistry(), true);
        again.arm();
        again.update(Mesh.of(dir, ""));
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(inNs("nft", "list", "table", "inet", "jmesh")).doesNotContain("elements"));
        assertThat(inNs("ip", "-4", "rule", "show").lines().filter(l -> l.contains("fwmark 0x111"))).hasSize(1);

        // the first one exiting (it drained while the second started) leaves the second one's rules alone
        c.close().await();
        assertThat(inNs("nft", "list", "tables")).contains("jmesh");
        assertThat(inNs("ip", "-4", "rule", "show")).contains("fwmark 0x111 lookup 133");
        again.close().await();
        assertThat(inNs("nft", "list", "tables")).doesNotContain("jmesh");
        assertThat(inNs("ip", "-4", "rule", "show")).doesNotContain("fwmark 0x111");
        assertThat(inNs("ip", "-6", "rule", "show")).doesNotContain("fwmark 0x111");
    }
}
