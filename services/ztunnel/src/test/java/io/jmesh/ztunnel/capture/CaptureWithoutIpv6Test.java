package io.jmesh.ztunnel.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.admin.Readiness;
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
 * A node whose IPv6 is switched off by sysctl ({@code disable_ipv6}; the kernel still has IPv6, so
 * {@code /proc/sys/net/ipv6} exists) is captured over IPv4 (root only): no IPv6 route can point at {@code lo} there,
 * and there is no IPv6 traffic to capture, so that family's policy routing is left out instead of failing the whole
 * programming for ever.
 */
class CaptureWithoutIpv6Test {

    static final String NS = "jmc6" + ProcessHandle.current().pid();
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
        String reason = CaptureNetnsTest.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        Commands.processes(Duration.ofSeconds(10)).run(List.of("ip", "netns", "add", NS), "");
        for (String iface : List.of("all", "default", "lo")) {
            IN_NAMESPACE.run(List.of("sysctl", "-qw", "net.ipv6.conf." + iface + ".disable_ipv6=1"), "");
        }
        IN_NAMESPACE.run(List.of("ip", "link", "set", "lo", "up"), "");
        vertx = Vertx.vertx();
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

    @Test
    void ipv6SwitchedOffBySysctlLeavesOutOnlyItsPolicyRouting() throws Exception {
        Readiness readiness = new Readiness();
        PrometheusRegistry metrics = new PrometheusRegistry();
        // ipv6 = true: what ztunnel concludes from /proc/sys/net/ipv6, which exists
        CaptureController c = new CaptureController(vertx, "node-a", CaptureRulesTest.RULES,
                new PolicyRouting("ip", 0x111, 133, true), IN_NAMESPACE, "nft", Duration.ofMillis(200),
                readiness.register("capture"), metrics, true);
        c.arm();
        try {
            c.update(Mesh.of(dir, """
                      - {uid: a1, name: a1, namespace: ambient, addresses: [10.10.1.11], node: node-a, tunnelProtocol: HBONE}
                    """));
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(readiness.isReady())
                    .as("capture programmed; failures so far: %s", failures(metrics)).isTrue());
            assertThat(IN_NAMESPACE.run(List.of("nft", "list", "table", "inet", "jmesh"), ""))
                    .contains("elements = { 10.10.1.11 }");
            assertThat(IN_NAMESPACE.run(List.of("ip", "-4", "rule", "show"), "")).contains("fwmark 0x111 lookup 133");
            assertThat(IN_NAMESPACE.run(List.of("ip", "-4", "route", "show", "table", "133"), ""))
                    .contains("local default dev lo");
        } finally {
            c.close().await();
        }
        assertThat(IN_NAMESPACE.run(List.of("nft", "list", "tables"), "")).doesNotContain("jmesh");
        assertThat(IN_NAMESPACE.run(List.of("ip", "-4", "rule", "show"), "")).doesNotContain("fwmark 0x111");
        assertThat(IN_NAMESPACE.run(List.of("ip", "-6", "rule", "show"), "")).doesNotContain("fwmark 0x111");
    }

    private static String failures(PrometheusRegistry metrics) {
        return metrics.scrape().stream().filter(m -> m.getMetadata().getName().equals("ztunnel_capture_failures"))
                .flatMap(m -> m.getDataPoints().stream()).map(p -> p.getLabels() + "="
                        + ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) p)
                                .getValue())
                .toList().toString();
    }
}
