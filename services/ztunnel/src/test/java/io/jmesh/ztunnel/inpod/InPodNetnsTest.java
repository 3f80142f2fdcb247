package io.jmesh.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.netns.IstioCni;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Istio's in-pod mode end to end (root only; skipped with the reason elsewhere). Two pods are network namespaces this
 * test creates, joined by a veth pair and nothing else; each gets the redirection rules Istio's CNI node agent
 * installs inside a pod ({@link IstioCni#POD_RULES}: outbound NAT REDIRECT to 15001 and DNS to 15053, TPROXY to
 * 15008 and 15006, the 0x539/0x111 marks and the local routing table). An independent stand-in for the agent
 * ({@code fake_cni.py}) hands
 * an in-process ztunnel the pods' namespaces over ZDS. Then an application in pod A reaching pod B's port goes
 * through A's 15001, HBONE (mTLS) to B's 15008, and arrives with A's address.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class InPodNetnsTest {

    static final String TAG = Long.toHexString(ProcessHandle.current().pid());
    static final String POD_A = "jmpa" + TAG;
    static final String POD_B = "jmpb" + TAG;
    static final String IP_A = "10.251.0.1";
    static final String IP_B = "10.251.0.2";
    static final String IP6_A = "fd00:251::1";
    static final String IP6_B = "fd00:251::2";
    static final int APP_PORT = 8080;

    /**
     * The application in pod B: answers each connection (up to 1000, each on a thread of its own, so one held open
     * stops no other) with the peer address it saw and what it read.
     */
    static final String ECHO_APP = """
            import socket, threading
            def answer(c, peer):
                c.settimeout(120)
                data = b""
                try:
                    while True:
                        chunk = c.recv(65536)
                        if not chunk: break
                        data += chunk
                    c.sendall(("peer=%%s " %% peer[0].removeprefix("::ffff:")).encode() + data)
                finally:
                    c.close()
            s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", %d)); s.listen(64); s.settimeout(170)
            for _ in range(1000):
                c, peer = s.accept()
                threading.Thread(target=answer, args=(c, peer), daemon=True).start()
            """.formatted(APP_PORT);

    /**
     * A client in pod A: sends argv[3] to argv[1]:argv[2] (IPv4 or IPv6), half-closes, prints the answer. argv[4] = 1:
     * mark it 0x539 (not captured).
     */
    static final String CLIENT = """
            import socket, sys
            s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
            if sys.argv[4] == "1": s.setsockopt(socket.SOL_SOCKET, 36, 0x539)
            s.settimeout(15); s.connect((sys.argv[1], int(sys.argv[2])))
            s.sendall(sys.argv[3].encode()); s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                out += chunk
            print(out.decode())
            """;

    /** A DNS client in pod A: one A query for argv[2] to server argv[1] over UDP; prints the addresses. */
    static final String DNS_CLIENT = """
            import socket, struct, sys
            q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
            q += b"".join(bytes([len(p)]) + p.encode() for p in sys.argv[2].split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(q, (sys.argv[1], 53))
            r = s.recv(4096)
            rcode, an = r[3] & 15, struct.unpack(">H", r[6:8])[0]
            i = len(q); ips = []
            for _ in range(an):
                i += 2 if r[i] & 0xc0 == 0xc0 else r.index(0, i) + 1 - i
                t, _, _, n = struct.unpack(">HHIH", r[i:i + 10]); i += 10
                if t == 1: ips.append(socket.inet_ntoa(r[i:i + n]))
                i += n
            print("rcode=%d %s" % (rcode, " ".join(ips)))
            """;

    @TempDir
    static Path dir;
    static Vertx vertx;
    static IstioCni.Agent agent;
    static ZtunnelHarness node;
    static PodPair pods;

    @BeforeAll
    static void lab() throws Exception {
        String reason = PodPair.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        pods = PodPair.create(POD_A, POD_B, IP_A, IP_B, IP6_A, IP6_B, dir.resolve("app.log"));

        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: "Kubernetes//Pod/default/pod-a", name: pod-a, namespace: default, serviceAccount: a,
                     addresses: [%s, "%s"], node: node-a, tunnelProtocol: HBONE}
                  - {uid: "Kubernetes//Pod/default/pod-b", name: pod-b, namespace: default, serviceAccount: b,
                     addresses: [%s, "%s"], node: node-a, tunnelProtocol: HBONE,
                     services: {"default/echo.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %d}]}}}
                services:
                  - {name: echo, namespace: default, hostname: echo.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.20}], ports: [{servicePort: 80, targetPort: %d}]}
                """.formatted(IP_A, IP6_A, IP_B, IP6_B, APP_PORT, APP_PORT));
        Path socket = dir.resolve("ztunnel.sock");
        agent = new IstioCni.Agent(socket, dir);
        node = ZtunnelHarness.start(dir, "node-a", """
                logLevel: info
                drainDeadline: 5s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-a, address: 127.0.140.1}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: -1, localAdmin: 0,
                            readiness: 0, dns: 15053, inboundPerWorkload: false, transparent: false}
                dns: {upstreams: ["127.0.0.1:9"], upstreamTimeout: 200ms, upstreamAttempts: 1}
                discovery: {staticFile: "%s"}
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                inpod: {enabled: true, socket: "%s", retryInterval: 1s}
                """.formatted(mesh, setup.caPort(), setup.token(), socket), null);
        assertThat(agent.event().getInteger("version")).isEqualTo(1); // ztunnel's ZdsHello{V1}
        assertThat(node.running.context().readiness().pending()).contains("workload-proxy-manager");
    }

    /** Local addresses of the TCP listeners on 15001 or 15008 in this test's (ztunnel's) network namespace. */
    static List<String> hostCaptureListeners() throws Exception {
        return run("ss", "-ltnH").output().lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length > 3)
                .map(f -> f[3]).filter(a -> a.endsWith(":15001") || a.endsWith(":15008")).toList();
    }

    @AfterAll
    static void cleanUp() throws Exception {
        PodPair.tearDown(pods, POD_A, POD_B, vertx, node, agent);
    }

    @Test
    @Order(1)
    void theAgentsSnapshotOpensEachPodsListenersInsideThePodAndMakesZtunnelReady() throws Exception {
        // what already listens on those ports in this namespace (another test's ztunnel still closing, say)
        List<String> hostBefore = hostCaptureListeners();
        assertThat(agent.add("uid-a", "/var/run/netns/" + POD_A, "pod-a", "default", "a")).isEmpty();
        // the same pod again (the agent resends after a reconnect): nothing changes
        assertThat(agent.add("uid-a", "/var/run/netns/" + POD_A, "pod-a", "default", "a")).isEmpty();
        assertThat(agent.add("uid-b", "/var/run/netns/" + POD_B, "pod-b", "default", "b")).isEmpty();
        assertThat(agent.send(new JsonObject().put("op", "snapshot")).getString("ack")).isEmpty();
        await().atMost(Duration.ofSeconds(30)).until(node::ready);

        for (String pod : List.of(POD_A, POD_B)) {
            String listening = inPod(pod, "ss", "-ltnH");
            // the DNS proxy on the pod's loopback only (a dual-stack socket shows it as [::ffff:127.0.0.1])
            assertThat(listening).contains(":15001").contains(":15006").contains(":15008")
                    .containsPattern("127\\.0\\.0\\.1]?:15053");
            assertThat(inPod(pod, "ss", "-lunH")).containsPattern("127\\.0\\.0\\.1]?:15053");
            if (inPod(pod, "ip", "-6", "addr", "show", "dev", "lo").contains("::1")) {
                assertThat(inPod(pod, "ss", "-lunH")).contains("[::1]:15053"); // the pod's IPv6 DNS lands there
            }
        }
        // none of the pods' listeners is in ztunnel's own namespace
        assertThat(hostCaptureListeners()).as("listeners on 15001/15008 here, besides %s:%n%s", hostBefore,
                run("ss", "-ltnpH").output()).isSubsetOf(hostBefore);
        assertThat(node.metric("workload_manager_active_proxy_count")).isEqualTo(2);
        assertThat(node.metric("workload_manager_proxies_started_total")).isEqualTo(2);
        // /config_dump shows the pods' proxies, as Istio's workloadState
        JsonObject state = node.ztunnel.localAdmin().configDump().getJsonObject("workloadState");
        assertThat(state.getJsonObject("uid-a").getString("state")).isEqualTo("Up");
        assertThat(state.getJsonObject("uid-b").getJsonObject("info").getString("serviceAccount")).isEqualTo("b");
    }

    @Test
    @Order(2)
    void anApplicationInPodATalksToPodBThroughHboneAndPodBSeesPodAsAddress() throws Exception {
        String answer = clientInPodA(IP_B, APP_PORT, "hello in-pod", false);
        assertThat(answer).isEqualTo("peer=" + IP_A + " hello in-pod");

        // both halves of the tunnel: pod A's outbound (reporter=source) and pod B's inbound over mTLS
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"source\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/a\"",
                "destination_principal=\"spiffe://cluster.local/ns/default/sa/b\"")).isPositive();
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "connection_security_policy=\"mutual_tls\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/a\"")).isPositive();
        assertThat(node.metric("ztunnel_pool_dials_total", "outcome", "success")).isGreaterThanOrEqualTo(1);
    }

    @Test
    @Order(2)
    void overIpv6TooTheOriginalDestinationAndTheClientsAddressSurvive() throws Exception {
        // REDIRECT to [::1]:15001, SO_ORIGINAL_DST's IPv6 form, HBONE to [fd00:251::2]:15008, TPROXY in pod B
        String answer = clientInPodA(IP6_B, APP_PORT, "hello v6", false);
        assertThat(answer).isEqualTo("peer=" + IP6_A + " hello v6");
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "connection_security_policy=\"mutual_tls\"")).isPositive();
    }

    @Test
    @Order(3)
    void podAsDnsQueriesAreAnsweredByItsOwnProxyAndItsServiceVipLeadsToPodB() throws Exception {
        // asked of any server, answered inside pod A by ztunnel from discovery
        String answer = inPod(POD_A, "python3", "-c", DNS_CLIENT, IP_B, "echo.default.svc.cluster.local").strip();
        assertThat(answer).isEqualTo("rcode=0 10.96.0.20");
        assertThat(node.metricSum("istio_dns_requests_total", "request_protocol=\"udp\"")).isPositive();
        assertThat(clientInPodA("10.96.0.20", 80, "by vip", false)).isEqualTo("peer=" + IP_A + " by vip");
    }

    @Test
    @Order(3)
    void plaintextArrivingAtPodBIsCapturedOn15006AndKeepsTheClientsAddress() throws Exception {
        // marked 0x539, pod A's rules let it out uncaptured: pod B sees a plaintext connection and sends it to 15006
        String answer = clientInPodA(IP_B, APP_PORT, "plain", true);
        assertThat(answer).isEqualTo("peer=" + IP_A + " plain");
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "connection_security_policy=\"unknown\"")).isPositive();
    }

    @Test
    @Order(3)
    void aConnectionMadeStraightToThePodsCapturePortIsRefusedNotProxiedToItself() throws Exception {
        // not redirected (the pod's own addresses go through lo): the original destination is 15001 itself, by any
        // of the pod's addresses, which ztunnel must refuse rather than tunnel to the pod's own 15001
        for (String target : List.of(IP_A, "127.0.0.1", IP6_A, "::1")) {
            double before = node.ztunnel.telemetry().rejections(true, "illegal_port");
            String answer = inPod(POD_A, "python3", "-c", """
                    import socket, sys
                    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); s.settimeout(15)
                    s.connect((sys.argv[1], 15001)); s.sendall(b"loop?")
                    try: print("read=%r" % s.recv(100))
                    except ConnectionResetError: print("reset")
                    """, target).strip();
            assertThat(answer).as("to %s:15001", target).isIn("read=b''", "reset");
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    assertThat(node.ztunnel.telemetry().rejections(true, "illegal_port"))
                            .as("illegal_port rejections after a connection to %s:15001", target)
                            .isGreaterThan(before));
        }
    }

    @Test
    @Order(4)
    void badRequestsAreRefusedWithAPreciseErrorAndCountedWithoutHarm() throws Exception {
        JsonObject noFd = agent.send(new JsonObject().put("op", "add").put("uid", "uid-x")
                .put("netns", "/var/run/netns/" + POD_A).put("name", "x").put("namespace", "default").put("noFd", true));
        assertThat(noFd.getString("ack")).contains("exactly one network-namespace descriptor, got 0");
        JsonObject twoFds = agent.send(new JsonObject().put("op", "add").put("uid", "uid-x")
                .put("netns", "/var/run/netns/" + POD_A).put("name", "x").put("namespace", "default")
                .put("extraFd", true));
        assertThat(twoFds.getString("ack")).contains("got 2");
        assertThat(agent.add("uid-x", "/dev/null", "x", "default", "x")).contains("not a namespace");
        assertThat(agent.send(new JsonObject().put("op", "raw").put("hex", "0aff")).getString("ack"))
                .startsWith("cannot decode WorkloadRequest");
        assertThat(node.metric("ztunnel_inpod_rejections_total", "reason", "netns_descriptor")).isEqualTo(3);
        assertThat(node.metric("ztunnel_inpod_rejections_total", "reason", "malformed")).isEqualTo(1);
        assertThat(node.ready()).isTrue();
        assertThat(clientInPodA(IP_B, APP_PORT, "still", false)).isEqualTo("peer=" + IP_A + " still");
    }

    @Test
    @Order(5)
    void aRequestOutOfOrderReconnectsAndTheReplayedSnapshotKeepsTheRunningPods() throws Exception {
        assertThat(agent.send(new JsonObject().put("op", "keep").put("uid", "uid-a")).getString("ack"))
                .contains("KeepWorkload 'uid-a' after SnapshotSent");
        assertThat(agent.reconnected().getInteger("version")).isEqualTo(1); // ztunnel came back
        await().atMost(Duration.ofSeconds(10)).until(() -> !node.ready());
        // the agent replays what it knows: pod A by its namespace, pod B kept
        assertThat(agent.add("uid-a", "/var/run/netns/" + POD_A, "pod-a", "default", "a")).isEmpty();
        assertThat(agent.send(new JsonObject().put("op", "keep").put("uid", "uid-b")).getString("ack")).isEmpty();
        assertThat(agent.send(new JsonObject().put("op", "snapshot")).getString("ack")).isEmpty();
        await().atMost(Duration.ofSeconds(10)).until(node::ready);
        assertThat(node.metric("workload_manager_proxies_started_total")).isEqualTo(2); // nothing restarted
        assertThat(clientInPodA(IP_B, APP_PORT, "again", false)).isEqualTo("peer=" + IP_A + " again");
    }

    @Test
    @Order(6)
    void deletingAPodClosesItsListenersAndItsTunnels() throws Exception {
        assertThat(agent.send(new JsonObject().put("op", "del").put("uid", "uid-b")).getString("ack")).isEmpty();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(inPod(POD_B, "ss", "-ltnH")).doesNotContain(":15008").doesNotContain(":15006"));
        assertThat(node.metric("workload_manager_active_proxy_count")).isEqualTo(1);
        assertThat(node.metric("workload_manager_proxies_stopped_total")).isEqualTo(1);
        // and no socket of ztunnel is left in pod B (a socket would keep the pod's namespace alive)
        assertThat(inPod(POD_B, "ss", "-tanH")).doesNotContain(":15008");
    }

    @Test
    @Order(7)
    void aPodWhoseListenersCannotOpenIsRefusedThenRetriedUntilItsProxyRuns() throws Exception {
        // something in pod B holds 15008 (without SO_REUSEPORT): pod B's proxy cannot listen there
        Process squatter = new ProcessBuilder("ip", "netns", "exec", POD_B, "python3", "-c",
                "import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 15008)); s.listen(1)\n"
                        + "print('bound', flush=True); time.sleep(60)").redirectErrorStream(true).start();
        try {
            assertThat(new String(squatter.getInputStream().readNBytes(6), StandardCharsets.UTF_8)).isEqualTo("bound\n");
            String ack = agent.add("uid-b", "/var/run/netns/" + POD_B, "pod-b", "default", "b");
            assertThat(ack).startsWith("cannot start the proxy of pod 'default/pod-b' (uid 'uid-b')")
                    .contains("15008");
            assertThat(node.metric("workload_manager_pending_proxy_count")).isEqualTo(1);
            assertThat(node.metric("ztunnel_inpod_rejections_total", "reason", "start_failed")).isEqualTo(1);
            assertThat(node.ready()).isFalse(); // a pod without its proxy would go unprotected
            assertThat(node.ztunnel.localAdmin().configDump().getJsonObject("workloadState")
                    .getJsonObject("uid-b").getString("state")).isEqualTo("Pending");
        } finally {
            squatter.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        // retried every inpod.retryInterval (1 s here) without the agent asking again
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        assertThat(node.metric("workload_manager_pending_proxy_count")).isEqualTo(0);
        assertThat(node.metric("workload_manager_active_proxy_count")).isEqualTo(2);
        assertThat(clientInPodA(IP_B, APP_PORT, "back", false)).isEqualTo("peer=" + IP_A + " back");
    }

    @Test
    @Order(8)
    void aConnectionFromAPodDiscoveryDoesNotNameYetWaitsForItsWorkloadAsIstiosDoes() throws Exception {
        // istio-cni adds a pod as its sandbox starts, often before istiod's push names its workload: Istio's
        // ztunnel holds the pod's outbound connections up to 5 s for it (LocalWorkloadInformation::get_workload)
        var store = node.ztunnel.store();
        var podA = store.current().resources().entrySet().stream()
                .filter(e -> e.getValue().hasWorkload() && e.getValue().getWorkload().getName().equals("pod-a"))
                .findFirst().orElseThrow();
        store.apply(java.util.Map.of(), List.of(podA.getKey()));
        try {
            // never named: refused once the wait is over, as an unknown source
            double before = node.ztunnel.telemetry().rejections(true, "unknown_source");
            Process never = startClientInPodA("never");
            await().atMost(Duration.ofSeconds(10)).until(() -> !never.isAlive()
                    || node.ztunnel.inPod().connectionsAwaitingWorkload() == 1);
            assertThat(never.isAlive()).as("client held while its pod's workload is unknown").isTrue();
            assertThat(never.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(node.ztunnel.telemetry().rejections(true, "unknown_source")).isGreaterThan(before);
            assertThat(node.ztunnel.inPod().connectionsAwaitingWorkload()).isZero();

            // named while the connection waits: it goes through
            Process client = startClientInPodA("named late");
            await().atMost(Duration.ofSeconds(10)).until(() -> !client.isAlive()
                    || node.ztunnel.inPod().connectionsAwaitingWorkload() == 1);
            store.apply(java.util.Map.of(podA.getKey(), podA.getValue()), List.of());
            String out = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(client.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(out).as("client in pod A (exit %d)", client.exitValue()).isEqualTo("peer=" + IP_A + " named late");
        } finally {
            store.apply(java.util.Map.of(podA.getKey(), podA.getValue()), List.of());
        }
    }

    @Test
    @Order(9)
    void aDnsQueryFromAPodDiscoveryDoesNotNameYetWaitsForItsWorkloadToo() throws Exception {
        // Istio's DNS proxy asks the same get_workload of a pod's queries: they wait too, rather than SERVFAIL
        var store = node.ztunnel.store();
        var podA = store.current().resources().entrySet().stream()
                .filter(e -> e.getValue().hasWorkload() && e.getValue().getWorkload().getName().equals("pod-a"))
                .findFirst().orElseThrow();
        store.apply(java.util.Map.of(), List.of(podA.getKey()));
        try {
            Process query = new ProcessBuilder("ip", "netns", "exec", POD_A, "python3", "-c", DNS_CLIENT, IP_B,
                    "echo.default.svc.cluster.local").redirectErrorStream(true).start();
            await().atMost(Duration.ofSeconds(10)).until(() -> !query.isAlive()
                    || node.ztunnel.inPod().connectionsAwaitingWorkload() == 1);
            store.apply(java.util.Map.of(podA.getKey(), podA.getValue()), List.of());
            String out = new String(query.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(query.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(out).isEqualTo("rcode=0 10.96.0.20");
        } finally {
            store.apply(java.util.Map.of(podA.getKey(), podA.getValue()), List.of());
        }
    }

    static Process startClientInPodA(String text) throws IOException {
        return new ProcessBuilder("ip", "netns", "exec", POD_A, "python3", "-c", CLIENT, IP_B,
                String.valueOf(APP_PORT), text, "0").redirectErrorStream(true).start();
    }

    // helpers

    static String clientInPodA(String ip, int port, String text, boolean bypass) throws Exception {
        return pods.clientInA(ip, port, text, bypass);
    }

    record Result(int code, String output) {
        boolean ok() {
            return code == 0;
        }
    }

    static String inPod(String pod, String... command) throws Exception {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", pod));
        full.addAll(List.of(command));
        return must(full.toArray(String[]::new));
    }

    static String must(String... command) throws Exception {
        Result r = run(command);
        assertThat(r.ok()).as("%s: %s", String.join(" ", command), r.output()).isTrue();
        return r.output();
    }

    static Result run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, out);
            }
            return new Result(p.exitValue(), out);
        } catch (IOException | InterruptedException e) {
            return new Result(-1, e.toString());
        }
    }
}
