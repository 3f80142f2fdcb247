package io.jmesh.ztunnel.inpod;

import static io.jmesh.ztunnel.inpod.InPodNetnsTest.inPod;
import static io.jmesh.ztunnel.inpod.InPodNetnsTest.must;
import static io.jmesh.ztunnel.inpod.InPodNetnsTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.testing.netns.IstioCni;
import io.jmesh.testing.netns.TwoNodeLab;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Two pods for in-pod tests: network namespaces joined by a veth pair, each redirected by istio-cni's rules, pod A
 * routing everything else (service VIPs) to pod B's side, and {@link InPodNetnsTest#ECHO_APP} listening in pod B.
 * Nothing leaves the lab. Needs root, {@code ip}, {@code nft} and {@code python3} ({@link #unavailableReason}).
 *
 * @param a pod A's namespace name
 * @param b pod B's namespace name
 */
record PodPair(String a, String b, Process app) implements AutoCloseable {

    /** Why the lab cannot run here, or null. */
    static String unavailableReason() {
        String reason = TwoNodeLab.unavailableReason();
        if (reason == null && !run("nft", "--version").ok()) {
            reason = "nftables' `nft` is not usable (Debian package nftables)";
        }
        if (reason == null && !run("python3", "--version").ok()) {
            reason = "python3 is not installed (it plays Istio's CNI node agent)";
        }
        return reason;
    }

    /**
     * Creates pods {@code a} and {@code b} with IPv4 addresses {@code ipA}, {@code ipB} (/24) and, when not null,
     * IPv6 {@code ip6A}, {@code ip6B} (/64: dual-stack pods); the echo app's output goes to {@code appLog}.
     */
    static PodPair create(String a, String b, String ipA, String ipB, String ip6A, String ip6B, Path appLog)
            throws Exception {
        must("ip", "netns", "add", a);
        must("ip", "netns", "add", b);
        String vethA = "v" + a;
        String vethB = "v" + b;
        must("ip", "link", "add", vethA, "netns", a, "type", "veth", "peer", "name", vethB, "netns", b);
        for (String[] pod : new String[][] {{a, vethA, ipA, ip6A}, {b, vethB, ipB, ip6B}}) {
            inPod(pod[0], "ip", "link", "set", "lo", "up");
            inPod(pod[0], "ip", "addr", "add", pod[2] + "/24", "dev", pod[1]);
            if (pod[3] != null) {
                inPod(pod[0], "ip", "-6", "addr", "add", pod[3] + "/64", "dev", pod[1], "nodad");
            }
            inPod(pod[0], "ip", "link", "set", pod[1], "up");
            IstioCni.redirect(pod[0]);
        }
        // service VIPs are routed to pod B's side of the wire (B forwards nothing: there is no way out of the lab)
        inPod(a, "ip", "route", "add", "default", "via", ipB);
        Process app = new ProcessBuilder("ip", "netns", "exec", b, "python3", "-c", InPodNetnsTest.ECHO_APP)
                .redirectErrorStream(true).redirectOutput(appLog.toFile()).start();
        return new PodPair(a, b, app);
    }

    /**
     * Runs {@link InPodNetnsTest#CLIENT} in pod A: connects to {@code ip:port}, sends {@code text} and returns the
     * answer; {@code bypass} marks the socket so pod A's rules let it out uncaptured.
     */
    String clientInA(String ip, int port, String text, boolean bypass) throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", a, "python3", "-c", InPodNetnsTest.CLIENT, ip,
                String.valueOf(port), text, bypass ? "1" : "0").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("client in pod A: %s", out).isZero();
        return out;
    }

    /** Stops the app and deletes both namespaces (a namespace that was never created is no error). */
    @Override
    public void close() throws Exception {
        if (app != null) {
            app.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            app.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        deleteNamespaces(a, b);
    }

    /**
     * An in-pod test class's teardown, whatever of its lab was set up (null: not set up, or failed): closes
     * {@code first} in order (ztunnels, then the node agent), then {@code vertx}, then the pods, or deletes their
     * namespaces by name when {@code pods} was never made.
     */
    static void tearDown(PodPair pods, String a, String b, io.vertx.core.Vertx vertx, AutoCloseable... first)
            throws Exception {
        for (AutoCloseable c : first) {
            if (c != null) {
                c.close();
            }
        }
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        if (pods != null) {
            pods.close();
        } else {
            deleteNamespaces(a, b);
        }
    }

    static void deleteNamespaces(String a, String b) {
        run("ip", "netns", "del", a);
        run("ip", "netns", "del", b);
    }
}
