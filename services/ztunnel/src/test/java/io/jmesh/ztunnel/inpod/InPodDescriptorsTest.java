package io.jmesh.ztunnel.inpod;

import static io.jmesh.ztunnel.inpod.InPodNetnsTest.must;
import static io.jmesh.ztunnel.inpod.InPodNetnsTest.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.netns.IstioCni;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pods' network-namespace descriptors the CNI node agent hands over are held exactly as long as ztunnel needs
 * them (root only): an open descriptor keeps a namespace alive, so one left behind would keep a dead sandbox's
 * namespace in the kernel. Pending pods are retried only every hour here, so the agent's own repeats are what runs.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class InPodDescriptorsTest {

    static final String POD = "jmpc" + Long.toHexString(ProcessHandle.current().pid());
    /** The same pod's sandbox re-created: a new network namespace for the same uid. */
    static final String POD_AGAIN = "jmpr" + Long.toHexString(ProcessHandle.current().pid());

    @TempDir
    static Path dir;
    static Vertx vertx;
    static IstioCni.Agent agent;
    static ZtunnelHarness node;

    @BeforeAll
    static void lab() throws Exception {
        String reason = PodPair.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        must("ip", "netns", "add", POD);
        must("ip", "netns", "exec", POD, "ip", "link", "set", "lo", "up");
        must("ip", "netns", "add", POD_AGAIN);
        must("ip", "netns", "exec", POD_AGAIN, "ip", "link", "set", "lo", "up");
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: "Kubernetes//Pod/default/pod-c", name: pod-c, namespace: default, serviceAccount: c,
                     addresses: [10.252.0.3], node: node-a, tunnelProtocol: HBONE}
                """);
        Path socket = dir.resolve("ztunnel.sock");
        agent = new IstioCni.Agent(socket, dir);
        node = ZtunnelHarness.start(dir, "node-a", """
                logLevel: info
                drainDeadline: 2s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-a, address: 127.0.141.1}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: -1, localAdmin: 0,
                            readiness: 0, dns: -1, inboundPerWorkload: false, transparent: false}
                discovery: {staticFile: "%s"}
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                inpod: {enabled: true, socket: "%s", retryInterval: 1h}
                """.formatted(mesh, setup.caPort(), setup.token(), socket), null);
        assertThat(agent.event().getInteger("version")).isEqualTo(1);
        assertThat(agent.snapshot()).isEmpty();
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (node != null) {
            node.close();
        }
        if (agent != null) {
            agent.close();
        }
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        run("ip", "netns", "del", POD);
        run("ip", "netns", "del", POD_AGAIN);
    }

    @Test
    void aPendingPodAddedAgainKeepsOneDescriptorAndNoneOnceDeleted() throws Exception {
        // something in the pod holds 15008 (without SO_REUSEPORT): the pod's proxy cannot start, it stays pending
        Process squatter = new ProcessBuilder("ip", "netns", "exec", POD, "python3", "-c",
                "import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 15008)); s.listen(1)\n"
                        + "print('bound', flush=True); time.sleep(60)").redirectErrorStream(true).start();
        try {
            assertThat(new String(squatter.getInputStream().readNBytes(6), StandardCharsets.UTF_8)).isEqualTo("bound\n");
            assertThat(agent.add("uid-c", "/var/run/netns/" + POD, "pod-c", "default", "c"))
                    .startsWith("cannot start the proxy of pod 'default/pod-c'");
            assertThat(node.metric("workload_manager_pending_proxy_count")).isEqualTo(1);
            assertThat(descriptorsOf(POD)).as("held while pending, for the retry").isEqualTo(1);
        } finally {
            squatter.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        // the CNI plugin failed the pod, kubelet retries, the agent sends the pod again (a new descriptor)
        assertThat(agent.add("uid-c", "/var/run/netns/" + POD, "pod-c", "default", "c")).isEmpty();
        assertThat(node.metric("workload_manager_pending_proxy_count")).isEqualTo(0);
        assertThat(node.metric("workload_manager_active_proxy_count")).isEqualTo(1);
        assertThat(descriptorsOf(POD)).as("descriptors of the pod's namespace while its proxy runs").isEqualTo(1);

        assertThat(agent.send(new io.vertx.core.json.JsonObject().put("op", "del").put("uid", "uid-c"))
                .getString("ack")).isEmpty();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(descriptorsOf(POD)).as("descriptors of a deleted pod's namespace").isZero());
    }

    @Test
    void aPendingPodsDescriptorIsReleasedWhenTheAgentReconnects() throws Exception {
        Process squatter = new ProcessBuilder("ip", "netns", "exec", POD, "python3", "-c",
                "import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 15008)); s.listen(1)\n"
                        + "print('bound', flush=True); time.sleep(60)").redirectErrorStream(true).start();
        try {
            assertThat(new String(squatter.getInputStream().readNBytes(6), StandardCharsets.UTF_8)).isEqualTo("bound\n");
            assertThat(agent.add("uid-d", "/var/run/netns/" + POD, "pod-c", "default", "c")).isNotEmpty();
            assertThat(descriptorsOf(POD)).isEqualTo(1);
            // a request out of order: ztunnel reconnects, and the agent's replay (here: nothing) is the truth
            assertThat(agent.send(new io.vertx.core.json.JsonObject().put("op", "keep").put("uid", "uid-d"))
                    .getString("ack")).contains("after SnapshotSent");
            assertThat(agent.reconnected().getInteger("version")).isEqualTo(1);
            assertThat(agent.snapshot()).isEmpty();
            assertThat(descriptorsOf(POD)).as("descriptors of a pod pending on the old connection").isZero();
            await().atMost(Duration.ofSeconds(10)).until(node::ready);
        } finally {
            squatter.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aPodInANewNamespaceReplacesItsProxyAndReleasesTheOldNamespace() throws Exception {
        double started = node.metric("workload_manager_proxies_started_total");
        double stopped = node.metric("workload_manager_proxies_stopped_total");
        assertThat(agent.add("uid-e", "/var/run/netns/" + POD, "pod-c", "default", "c")).isEmpty();
        assertThat(descriptorsOf(POD)).isEqualTo(1);
        // kubelet re-created the sandbox (a CNI failure elsewhere): the agent sends the same uid in a new namespace
        assertThat(agent.add("uid-e", "/var/run/netns/" + POD_AGAIN, "pod-c", "default", "c")).isEmpty();
        assertThat(node.metric("workload_manager_active_proxy_count")).isEqualTo(1);
        assertThat(node.metric("workload_manager_proxies_started_total")).isEqualTo(started + 2);
        assertThat(node.metric("workload_manager_proxies_stopped_total")).isEqualTo(stopped + 1);
        assertThat(InPodNetnsTest.inPod(POD_AGAIN, "ss", "-ltnH")).contains(":15008");
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            assertThat(descriptorsOf(POD)).as("descriptors of the old namespace").isZero();
            assertThat(InPodNetnsTest.inPod(POD, "ss", "-ltnH")).doesNotContain(":15008");
        });
        assertThat(descriptorsOf(POD_AGAIN)).isEqualTo(1);

        assertThat(agent.send(new io.vertx.core.json.JsonObject().put("op", "del").put("uid", "uid-e"))
                .getString("ack")).isEmpty();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(descriptorsOf(POD_AGAIN)).as("descriptors of a deleted pod's namespace").isZero());
    }

    /**
     * How many of this process's file descriptors refer to the network namespace {@code /var/run/netns/<name>}: a
     * descriptor opened through that bind mount reads back as its path, one opened through {@code /proc} as
     * {@code net:[inode]}.
     */
    static long descriptorsOf(String name) throws IOException {
        Path mount = Path.of("/var/run/netns/" + name);
        java.util.Set<String> targets = new java.util.HashSet<>(java.util.List.of(
                "net:[" + Files.getAttribute(mount, "unix:ino") + "]", mount.toString(), "/run/netns/" + name));
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return targets.contains(Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    return false; // closed meanwhile (the listing's own descriptor)
                }
            }).count();
        }
    }
}
