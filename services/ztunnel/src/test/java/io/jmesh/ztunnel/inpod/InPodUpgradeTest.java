package io.jmesh.ztunnel.inpod;

import static io.jmesh.ztunnel.inpod.InPodNetnsTest.inPod;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.netns.IstioCni;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ztunnel upgrade in in-pod mode, as Istio's DaemonSet rolls (maxSurge 1, maxUnavailable 0), without a refused
 * connection (root only; skipped with the reason elsewhere). Ztunnel A serves two pods (network namespaces this test
 * creates, with istio-cni's rules); ztunnel B starts on the same node and connects to the same node agent, which
 * sends the newest ztunnel its snapshot of the pods (istio-cni's {@code ztunnelserver.go}); B's listeners join A's in
 * every pod (SO_REUSEPORT); then A drains and exits. Connections made all along, through pod A's outbound capture
 * (HBONE to pod B's 15008) and plaintext to pod B's inbound capture (15006), all succeed, and one opened through A
 * before B came finishes through the draining A.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class InPodUpgradeTest {

    static final String TAG = Long.toHexString(ProcessHandle.current().pid());
    static final String POD_A = "jmua" + TAG;
    static final String POD_B = "jmub" + TAG;
    static final String IP_A = "10.252.0.1";
    static final String IP_B = "10.252.0.2";
    static final int APP_PORT = InPodNetnsTest.APP_PORT;

    /**
     * In pod A: connects to argv[1]:argv[2] until file argv[3] exists (at most argv[4] times), alternately captured
     * (outbound, HBONE to pod B) and marked 0x539 (plaintext, captured by pod B's 15006); prints one line per
     * connection: its number, its kind and the answer, or the error.
     */
    static final String LOOP = """
            import os, socket, sys
            ip, port, stop, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
            i = 0
            while i < limit and not os.path.exists(stop):
                plain = i % 2 == 1
                try:
                    s = socket.socket()
                    if plain: s.setsockopt(socket.SOL_SOCKET, 36, 0x539)
                    s.settimeout(15); s.connect((ip, port)); s.sendall(b"n%d" % i); s.shutdown(socket.SHUT_WR)
                    out = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk: break
                        out += chunk
                    s.close()
                    answer = out.decode()
                except OSError as e:
                    answer = "error %r" % e
                print("%d %s %s" % (i, "plain" if plain else "hbone", answer), flush=True)
                i += 1
            """;

    /** In pod A: one connection held open: sends "before ", waits for a line on stdin, sends "after", prints the answer. */
    static final String HELD = """
            import socket, sys
            s = socket.socket(); s.settimeout(120); s.connect((sys.argv[1], int(sys.argv[2])))
            s.sendall(b"before "); print("sent", flush=True)
            sys.stdin.readline()
            s.sendall(b"after"); s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                out += chunk
            print(out.decode(), flush=True)
            """;

    @TempDir
    static Path dir;
    static Vertx vertx;
    static IstioCni.Agent agent;
    static LocalNodeSetup setup;
    static Path mesh;
    static ZtunnelHarness a;
    static ZtunnelHarness b;
    static PodPair pods;
    /** The test's client processes, stopped at the end whatever happened. */
    static final List<Process> clients = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void lab() throws Exception {
        String reason = PodPair.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        pods = PodPair.create(POD_A, POD_B, IP_A, IP_B, null, null, dir.resolve("app.log"));
        vertx = Vertx.vertx();
        setup = LocalNodeSetup.start(vertx, dir);
        mesh = setup.mesh("""
                workloads:
                  - {uid: "Kubernetes//Pod/default/pod-a", name: pod-a, namespace: default, serviceAccount: a,
                     addresses: [%s], node: node-a, tunnelProtocol: HBONE}
                  - {uid: "Kubernetes//Pod/default/pod-b", name: pod-b, namespace: default, serviceAccount: b,
                     addresses: [%s], node: node-a, tunnelProtocol: HBONE}
                services:
                  - {name: echo, namespace: default, hostname: echo.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.30}], ports: [{servicePort: 80, targetPort: %d}]}
                """.formatted(IP_A, IP_B, APP_PORT));
        agent = new IstioCni.Agent(dir.resolve("ztunnel.sock"), dir);
        a = ztunnel("ztunnel-a", "127.0.144.1");
        assertThat(agent.event().getInteger("conn")).isEqualTo(1);
        sendPods();
        await().atMost(Duration.ofSeconds(30)).until(a::ready);
        // ztunnel asked each pod's kernel to move a closing listener's accept queue to the group's other listeners
        for (String pod : List.of(POD_A, POD_B)) {
            assertThat(inPod(pod, "cat", "/proc/sys/net/ipv4/tcp_migrate_req").trim()).as("tcp_migrate_req in %s", pod)
                    .isEqualTo("1");
        }
    }

    /**
     * A ztunnel of node-a. Each has an address of its own, as each ztunnel pod of a rolling DaemonSet has: its
     * node-level listeners (DNS, readiness) are in its own pod, not in the pods it proxies.
     */
    static ZtunnelHarness ztunnel(String name, String address) throws Exception {
        return ZtunnelHarness.start(dir, name, """
                logLevel: info
                drainDeadline: 30s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-a, address: %s}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: -1, localAdmin: 0,
                            readiness: 0, dns: 15053, inboundPerWorkload: false, transparent: false}
                dns: {upstreams: ["127.0.0.1:9"], upstreamTimeout: 200ms, upstreamAttempts: 1}
                discovery: {staticFile: "%s"}
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                inpod: {enabled: true, socket: "%s", retryInterval: 1s}
                """.formatted(address, mesh, setup.caPort(), setup.token(), dir.resolve("ztunnel.sock")), null);
    }

    /** What istio-cni sends a ztunnel that connects: every pod with its namespace, then SnapshotSent. */
    static void sendPods() throws Exception {
        assertThat(agent.add("uid-a", "/var/run/netns/" + POD_A, "pod-a", "default", "a")).isEmpty();
        assertThat(agent.add("uid-b", "/var/run/netns/" + POD_B, "pod-b", "default", "b")).isEmpty();
        assertThat(agent.snapshot()).isEmpty();
    }

    @AfterAll
    static void cleanUp() throws Exception {
        for (Process p : clients) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        PodPair.tearDown(pods, POD_A, POD_B, vertx, a, b, agent);
    }

    @Test
    void aSecondZtunnelTakesOverEveryPodWhileTheFirstDrainsAndNoConnectionIsRefused() throws Exception {
        // a connection through A, held open across the upgrade
        Process held = inPodProcess(POD_A, HELD, IP_B, String.valueOf(APP_PORT));
        BufferedReader heldOut = new BufferedReader(new InputStreamReader(held.getInputStream(), StandardCharsets.UTF_8));
        assertThat(heldOut.readLine()).isEqualTo("sent");
        await().atMost(Duration.ofSeconds(20)).until(() -> a.metricSum("istio_tcp_connections_opened_total",
                "reporter=\"destination\"") >= 1);

        // B starts and connects; the agent sends the newest ztunnel the pods; B's listeners join A's in each pod
        b = ztunnel("ztunnel-b", "127.0.144.2");
        assertThat(agent.event().getInteger("conn")).isEqualTo(2);
        sendPods();
        await().atMost(Duration.ofSeconds(30)).until(b::ready);
        for (String pod : List.of(POD_A, POD_B)) {
            String tcp = inPod(pod, "ss", "-ltnH");
            for (int port : new int[] {15001, 15006, 15008, 15053}) {
                assertThat(listeners(tcp, port)).as("TCP listeners on %d in %s:%n%s", port, pod, tcp).isEqualTo(2);
            }
            String udp = inPod(pod, "ss", "-lunH");
            assertThat(listeners(udp, 15053)).as("UDP sockets on 15053 in %s:%n%s", pod, udp).isEqualTo(2);
        }
        assertThat(a.ready()).isTrue();

        // connections all along the handover
        Path stop = dir.resolve("stop-loop");
        Process loop = inPodProcess(POD_A, LOOP, IP_B, String.valueOf(APP_PORT), stop.toString(), "2000");
        List<String> results = new CopyOnWriteArrayList<>();
        Thread reader = new Thread(() -> new BufferedReader(new InputStreamReader(loop.getInputStream(),
                StandardCharsets.UTF_8)).lines().forEach(results::add), "loop-reader");
        reader.start();
        await().atMost(Duration.ofSeconds(30)).until(() -> results.size() >= 10);

        // A drains (SIGTERM) and exits
        Thread shutdown = new Thread(() -> a.running.shutdown(Duration.ofSeconds(30)), "ztunnel-a-shutdown");
        shutdown.start();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            for (String pod : List.of(POD_A, POD_B)) {
                assertThat(listeners(inPod(pod, "ss", "-ltnH"), 15008)).as("15008 listeners in %s", pod).isEqualTo(1);
            }
        });
        int whileDraining = results.size();
        // the connection held through A finishes while A drains
        Writer heldIn = new OutputStreamWriter(held.getOutputStream(), StandardCharsets.UTF_8);
        heldIn.write("\n");
        heldIn.flush();
        assertThat(heldOut.readLine()).isEqualTo("peer=" + IP_A + " before after");
        shutdown.join(60_000);
        assertThat(shutdown.isAlive()).as("A still shutting down").isFalse();
        JsonObject gone = agent.event();
        assertThat(gone.getString("event") + " " + gone.getInteger("conn")).isEqualTo("disconnected 1");

        int afterExit = results.size();
        await().atMost(Duration.ofSeconds(30)).until(() -> results.size() >= afterExit + 10);
        Files.writeString(stop, "");
        assertThat(loop.waitFor(30, TimeUnit.SECONDS)).isTrue();
        reader.join(10_000);
        List<String> failed = new java.util.ArrayList<>();
        for (int i = 0; i < results.size(); i++) {
            String kind = i % 2 == 1 ? "plain" : "hbone";
            if (!results.get(i).equals(i + " " + kind + " peer=" + IP_A + " n" + i)) {
                failed.add(results.get(i));
            }
        }
        assertThat(failed).as("connections failed of %d (A's listeners closed after %d, A gone after %d)",
                results.size(), whileDraining, afterExit).isEmpty();

        // B alone serves the pods now, DNS included
        for (String pod : List.of(POD_A, POD_B)) {
            String tcp = inPod(pod, "ss", "-ltnH");
            for (int port : new int[] {15001, 15006, 15008, 15053}) {
                assertThat(listeners(tcp, port)).as("TCP listeners on %d in %s after A", port, pod).isEqualTo(1);
            }
        }
        assertThat(inPod(POD_A, "python3", "-c", InPodNetnsTest.DNS_CLIENT, IP_B, "echo.default.svc.cluster.local")
                .strip()).isEqualTo("rcode=0 10.96.0.30");
        assertThat(b.metricSum("istio_dns_requests_total", "request_protocol=\"udp\"")).isPositive();
        assertThat(pods.clientInA(IP_B, APP_PORT, "after", false)).isEqualTo("peer=" + IP_A + " after");
        assertThat(b.metricSum("istio_tcp_connections_opened_total", "reporter=\"source\"")).isPositive();
        assertThat(b.ready()).isTrue();
    }

    /**
     * Listening sockets on {@code port} in {@code ss -lH} output (local address: the fourth column), but for the DNS
     * proxy's twin on the pod's IPv6 loopback: one per ztunnel.
     */
    static long listeners(String ss, int port) {
        return ss.lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length > 3)
                .filter(f -> f[3].endsWith(":" + port) && !f[3].equals("[::1]:" + port)).count();
    }

    static Process inPodProcess(String pod, String script, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("ip", "netns", "exec", pod, "python3", "-c", script));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        clients.add(p);
        return p;
    }
}
