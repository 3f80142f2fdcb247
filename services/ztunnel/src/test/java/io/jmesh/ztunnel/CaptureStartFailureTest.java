package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.testing.netns.TwoNodeLab;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ztunnel in transparent capture mode that fails to start leaves no capture rule behind, and leaves alone those
 * of the ztunnel that holds its ports (root only; skipped with the reason elsewhere). When a bind fails the process
 * exits: rules of its own left in place would send the node's ambient pods' DNS to a port nothing listens on, and
 * replacing or removing another's would take its pods out of the mesh. Its {@code nft} and {@code ip} are wrappers
 * that run the real tools in a network namespace this test creates.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class CaptureStartFailureTest {

    static final String NS = "jmcsf" + Long.toHexString(ProcessHandle.current().pid());
    static final String NODE = "127.0.143.1";

    @TempDir
    static Path dir;

    @BeforeAll
    static void namespace() throws Exception {
        String reason = TwoNodeLab.unavailableReason();
        if (reason == null && run("nft", "--version").isEmpty()) {
            reason = "nftables' `nft` is not usable (Debian package nftables)";
        }
        Assumptions.assumeTrue(reason == null, reason);
        assertThat(run("ip", "netns", "add", NS)).isNotEmpty();
        run("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up");
    }

    @AfterAll
    static void removeNamespace() {
        run("ip", "netns", "del", NS);
    }

    @Test
    void aStartThatFailsLeavesNoCaptureRule() throws Exception {
        startWithTheHbonePortTaken();
        assertThat(run("ip", "netns", "exec", NS, "nft", "list", "tables")).as("nft tables").doesNotContain("jmesh");
        assertThat(run("ip", "netns", "exec", NS, "ip", "-4", "rule", "show")).as("ip rules")
                .doesNotContain("fwmark 0x111");
    }

    /**
     * The ztunnel holding the ports (say a surge rollout's old one) has its rules in place: a second one that cannot
     * bind neither replaces them (it programmed them while binding, with its own view of the pods) nor removes them
     * as it exits, which took every ambient pod of the node out of the mesh while the first one still ran.
     */
    @Test
    void aStartThatCannotBindLeavesTheRulesOfTheZtunnelHoldingThePorts() throws Exception {
        assertThat(run("ip", "netns", "exec", NS, "nft", "add", "table", "inet", "jmesh")).isNotEmpty();
        assertThat(run("ip", "netns", "exec", NS, "nft", "add", "set", "inet", "jmesh", "ambient4",
                "{ type ipv4_addr; }")).isNotEmpty();
        assertThat(run("ip", "netns", "exec", NS, "nft", "add", "element", "inet", "jmesh", "ambient4",
                "{ 10.253.0.99 }")).isNotEmpty();
        run("ip", "netns", "exec", NS, "ip", "-4", "rule", "add", "fwmark", "0x111", "lookup", "133");
        try {
            startWithTheHbonePortTaken();
            assertThat(run("ip", "netns", "exec", NS, "nft", "list", "table", "inet", "jmesh")).as("the table")
                    .contains("10.253.0.99").doesNotContain("10.253.0.11");
            assertThat(run("ip", "netns", "exec", NS, "ip", "-4", "rule", "show")).as("ip rules")
                    .contains("fwmark 0x111 lookup 133");
        } finally {
            run("ip", "netns", "exec", NS, "nft", "delete", "table", "inet", "jmesh");
            run("ip", "netns", "exec", NS, "ip", "-4", "rule", "del", "fwmark", "0x111", "lookup", "133");
        }
    }

    /**
     * A ztunnel that crashed (SIGKILL, out of memory) leaves its table, which holds the node's ambient pods and drops
     * their traffic while nothing listens. The ztunnel started next replaced it as soon as its listeners were bound,
     * with the pods it knew then: none before its first configuration, so every pod's traffic passed uncaptured,
     * plaintext and unauthorized, until policy answered. It now keeps the old table until its first full
     * configuration (here policy never answers).
     */
    @Test
    void aRestartKeepsTheCrashedZtunnelsPodsCapturedUntilItsFirstConfiguration() throws Exception {
        var left = new io.jmesh.ztunnel.capture.CaptureRules(new io.jmesh.ztunnel.capture.CaptureRules.Settings(
                "jmesh", 0x539, 0x111, "", 15001, 15008, 15006, 0, null));
        Path crashed = Files.writeString(dir.resolve("crashed.nft"),
                left.install() + left.sync(java.util.List.of(InetAddress.getByName("10.253.0.11"))));
        assertThat(run("ip", "netns", "exec", NS, "nft", "-f", crashed.toString())).isNotNull();
        assertThat(run("ip", "netns", "exec", NS, "nft", "list", "table", "inet", "jmesh")).contains("10.253.0.11");
        Path token = Files.writeString(dir.resolve("token"), "tok");
        ZtunnelConfig config = capturingZtunnel("{address: \"127.0.0.1:9\", tokenFile: \"" + token + "\"}");
        Vertx vertx = ServiceLauncher.newVertx(config.ioThreads());
        var service = new java.util.concurrent.atomic.AtomicReference<ZtunnelBootstrap>();
        try {
            ServiceLauncher.start(config, vertx, (c, ctx) -> {
                ZtunnelBootstrap b = new ZtunnelBootstrap(c, ctx, null);
                service.set(b);
                return b;
            }).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            // every programming the start asked for has run once this probe ran on the capture worker (one thread)
            var probe = vertx.createSharedWorkerExecutor("ztunnel-capture", 1);
            probe.executeBlocking(() -> null).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            probe.close();
            assertThat(run("ip", "netns", "exec", NS, "nft", "list", "table", "inet", "jmesh"))
                    .as("the crashed ztunnel's table while the new one has no configuration").contains("10.253.0.11");
        } finally {
            if (service.get() != null) {
                service.get().close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            run("ip", "netns", "exec", NS, "nft", "delete", "table", "inet", "jmesh");
            run("ip", "netns", "exec", NS, "ip", "-4", "rule", "del", "fwmark", "0x111", "lookup", "133");
        }
    }

    /** Starts a capturing ztunnel while a socket holds its HBONE port, expects the start to fail, and cleans up. */
    void startWithTheHbonePortTaken() throws Exception {
        Path mesh = Files.writeString(dir.resolve("mesh.yaml"), """
                workloads:
                  - {uid: p1, name: p1, namespace: ambient, addresses: [10.253.0.11], node: node-a, tunnelProtocol: HBONE}
                """);
        ZtunnelConfig config = capturingZtunnel("{staticFile: \"" + mesh + "\"}");
        Vertx vertx = ServiceLauncher.newVertx(config.ioThreads());
        var service = new java.util.concurrent.atomic.AtomicReference<ZtunnelBootstrap>();
        // something else holds the node's HBONE port (e.g. the previous ztunnel, still draining)
        try (ServerSocket squatter = new ServerSocket()) {
            squatter.bind(new InetSocketAddress(InetAddress.getByName(NODE), 15008));
            var start = ServiceLauncher.start(config, vertx, (c, ctx) -> {
                ZtunnelBootstrap b = new ZtunnelBootstrap(c, ctx, null);
                service.set(b);
                return b;
            }).toCompletionStage().toCompletableFuture();
            try {
                start.get(60, TimeUnit.SECONDS);
                throw new AssertionError("ztunnel started although its HBONE port is taken");
            } catch (ExecutionException e) {
                assertThat(e.getCause()).hasMessageContaining("15008");
            }
            // the capture worker runs its tasks in order on one thread: once this probe ran, every programming
            // (and removal) the failed start had asked for is done
            var probe = vertx.createSharedWorkerExecutor("ztunnel-capture", 1);
            probe.executeBlocking(() -> null).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            probe.close();
        } finally {
            // the listeners that did bind outlive a Vert.x close (its event loops end without closing them): the
            // service's own close releases them, so that later tests in this JVM can bind these ports
            if (service.get() != null) {
                service.get().close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        // the capture twins on [::1] too (CI once found [::1]:15001 still listening much later in this JVM)
        assertThat(run("ss", "-ltnH")).as("listeners left").doesNotContain("127.0.143.1]:")
                .doesNotContain("[::1]:15001 ").doesNotContain("[::1]:15006 ");
    }

    /** A node-level capturing ztunnel on {@link #NODE}, programming the test's namespace, with {@code discovery}. */
    static ZtunnelConfig capturingZtunnel(String discovery) throws IOException {
        Path token = Files.writeString(dir.resolve("token"), "tok");
        Path file = Files.writeString(dir.resolve("ztunnel.yaml"), """
                logLevel: info
                drainDeadline: 1s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-a, address: %s}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: -1, localAdmin: -1,
                            readiness: -1, dns: -1, inboundPerWorkload: false, transparent: true}
                discovery: %s
                identity: {caAddress: "127.0.0.1:9", tokenFile: "%s"}
                capture: {enabled: true, nftCommand: "%s", ipCommand: "%s", commandTimeout: 20s, retryInterval: 1s}
                """.formatted(NODE, discovery, token, wrapper("nft"), wrapper("ip")));
        return ConfigLoader.load(ZtunnelConfig.class, "ztunnel", file, Map.of()).config();
    }

    /** A script that runs {@code tool} with its arguments and input inside the test's namespace. */
    static Path wrapper(String tool) throws IOException {
        Path p = dir.resolve("ns-" + tool);
        Files.writeString(p, "#!/bin/sh\nexec ip netns exec " + NS + " " + tool + " \"$@\"\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    /** Output of a command that exits 0, else "" (also on a command that cannot run). */
    static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "";
            }
            return p.exitValue() == 0 ? out + "\n" : "";
        } catch (IOException | InterruptedException e) {
            return "";
        }
    }
}
