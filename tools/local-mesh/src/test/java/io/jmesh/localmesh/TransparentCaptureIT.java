package io.jmesh.localmesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.kafkalocal.LocalKafka;
import io.jmesh.localmesh.run.Component;
import io.jmesh.localmesh.run.Layout;
import io.jmesh.localmesh.run.MeshPlan;
import io.jmesh.localmesh.run.Supervisor;
import io.jmesh.localmesh.run.Topology;
import io.jmesh.testing.netns.Netns;
import io.jmesh.testing.netns.TwoNodeLab;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Istio ambient's promise with unmodified applications: two nodes and four pods as network namespaces
 * ({@link TwoNodeLab}), one ztunnel per node in transparent mode (it programs nftables in its node's namespace),
 * and ca, policy and Kafka as processes on node-a, reached over the wire. curl, {@code python3 -m http.server},
 * socat and iperf3 run in the pods knowing nothing of the mesh.
 *
 * <p>Checked: the traffic of enrolled pods is captured (each ztunnel's access log names the other side's SPIFFE
 * identity), by pod IP and by Service VIP; the wire between the nodes carries only TLS to and from 15008 for them,
 * never their payload; the server sees the client pod's own address; a DENY policy applies; a pod of a namespace
 * that is not enrolled talks plaintext, untouched; ztunnel removes its rules when it stops, and nothing of the
 * lab remains. Root only (as CI runs); skipped with the reason elsewhere.
 */
class TransparentCaptureIT {

    private static final Path REPO = Path.of(System.getProperty("jmesh.repo", "../..")).toAbsolutePath().normalize();
    private static final Duration READY = Duration.ofSeconds(150);
    private static final String CA = "10.200.1.1";
    private static final String POLICY = "10.200.1.2";
    private static final String KAFKA = "10.200.1.9";
    private static final String VIP = "10.96.0.10";
    private static final String CLIENT = TwoNodeLab.address("pod-a1");     // namespace mesh (ambient)
    private static final String OUTSIDER = TwoNodeLab.address("pod-a2");   // namespace legacy (not enrolled)
    private static final String SERVER = TwoNodeLab.address("pod-b1");     // namespace mesh (ambient)
    private static final String PLAIN = TwoNodeLab.address("pod-b2");      // namespace legacy (not enrolled)
    private static final String NEIGHBOUR = TwoNodeLab.address("pod-b3");  // namespace mesh, on the server's node
    // the same pods' IPv6 addresses, registered as workloads of their own (a WorkloadEntry has one address)
    private static final String CLIENT6 = TwoNodeLab.address6("pod-a1");
    private static final String SERVER6 = TwoNodeLab.address6("pod-b1");
    private static final String NEIGHBOUR6 = TwoNodeLab.address6("pod-b3");
    private static final String PLAIN6 = TwoNodeLab.address6("pod-b2");

    /**
     * One A query to a made-up DNS server (10.96.0.53:53, or the third argument), as any client would send it: name,
     * then udp or tcp.
     */
    private static final String DNS_QUERY = """
            import socket, struct, sys
            name, proto = sys.argv[1], sys.argv[2]
            server = sys.argv[3] if len(sys.argv) > 3 else '10.96.0.53'
            family = socket.AF_INET6 if ':' in server else socket.AF_INET
            q = struct.pack('>HHHHHH', 0x4a4d, 0x0100, 1, 0, 0, 0)
            q += b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\\0\\0\\1\\0\\1'
            if proto == 'udp':
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.settimeout(5)
                s.sendto(q, (server, 53))
                a = s.recv(4096)
            else:
                s = socket.create_connection((server, 53), 5)
                s.sendall(struct.pack('>H', len(q)) + q)
                n = struct.unpack('>H', s.recv(2))[0]
                a = b''
                while len(a) < n:
                    a += s.recv(n - len(a))
            count = struct.unpack('>H', a[6:8])[0]
            print('rcode=%d answers=%d %s' % (a[3] & 15, count, socket.inet_ntoa(a[-4:]) if count else '-'))
            """;

    @TempDir
    Path dir;

    @Test
    void unmodifiedAppsAreCapturedAndOnlyMutualTlsCrossesTheWire() throws Exception {
        String reason = unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        String prefix;
        Path logs = dir.resolve("state").resolve("logs");   // where MeshPlan puts the ca CLI's log too
        String run = UUID.randomUUID().toString().substring(0, 8);
        String byIp = "by-pod-ip-" + run;
        String byVip = "by-vip-" + run;
        String echoed = "echoed-" + run;
        String legacy = "legacy-" + run;
        String sameNode = "same-node-" + run;
        String byIp6 = "by-ipv6-" + run;
        try (TwoNodeLab lab = TwoNodeLab.create(Files.createDirectories(dir.resolve("lab")));
                KeptLogs kept = new KeptLogs(logs)) {
            prefix = lab.prefix();
            controlPlaneAddresses(lab);
            Topology topology = new Topology(KAFKA, CA, POLICY, "10.200.1.3", "10.200.1.4", lab.nodeA().name(),
                    List.of(node("node-a", TwoNodeLab.NODE_A_BRIDGE, lab.nodeA()),
                            node("node-b", TwoNodeLab.NODE_B_BRIDGE, lab.nodeB())),
                    manifests());
            MeshPlan plan = new MeshPlan(REPO, dir.resolve("state"), topology);
            assertThat(plan.missingJars()).as("service jars (mvn package first)").isNull();
            Files.createDirectories(logs);
            // closed in reverse: the mesh stops (and drains) while Kafka is still up
            try (LocalKafka kafka = LocalKafka.builder().dataDir(dir.resolve("kafka")).host(KAFKA)
                            .port(Layout.KAFKA_PORT).controllerPort(Layout.KAFKA_CONTROLLER_PORT)
                            .javaBinary(inNamespace(lab.nodeA())).build();
                    Supervisor sup = new Supervisor(logs, System.out)) {
                kafka.start();
                plan.prepareCredentials(sup);
                List<Component> mesh = new ArrayList<>(plan.controlPlane().stream()
                        .filter(c -> Set.of("ca", "policy").contains(c.name())).toList());
                mesh.addAll(plan.ztunnels());
                sup.startAll(mesh, READY);

                // the apps: unmodified, listening on their pod's address
                Path www = Files.createDirectories(dir.resolve("www"));
                Files.writeString(www.resolve(byIp + ".txt"), byIp + " body\n");
                Files.writeString(www.resolve(byVip + ".txt"), byVip + " body\n");
                Files.writeString(www.resolve(legacy + ".txt"), legacy + " body\n");
                Files.writeString(www.resolve(sameNode + ".txt"), sameNode + " body\n");
                Files.writeString(www.resolve(byIp6 + ".txt"), byIp6 + " body\n");
                Path httpLog = logs.resolve("http-server-b1.log");
                lab.podB1().start(httpLog, "python3", "-u", "-m", "http.server", "8000", "--bind", SERVER,
                        "--directory", www.toString());
                Path httpLog6 = logs.resolve("http-server-b1-ipv6.log");
                lab.podB1().start(httpLog6, "python3", "-u", "-m", "http.server", "8000", "--bind", SERVER6,
                        "--directory", www.toString());
                lab.podB1().start(logs.resolve("echo-b1.log"), "socat", "TCP-LISTEN:9000,fork,reuseaddr", "EXEC:cat");
                lab.podB1().start(logs.resolve("echo-denied-b1.log"), "socat", "TCP-LISTEN:9001,fork,reuseaddr",
                        "EXEC:cat");
                lab.podB1().start(logs.resolve("iperf3-b1.log"), "iperf3", "-s", "-B", SERVER, "-p", "5201");
                lab.podB2().start(logs.resolve("http-server-b2.log"), "python3", "-u", "-m", "http.server", "8000",
                        "--bind", PLAIN, "--directory", www.toString());
                Path plainLog6 = logs.resolve("http-server-b2-ipv6.log");
                lab.podB2().start(plainLog6, "python3", "-u", "-m", "http.server", "8000", "--bind", PLAIN6,
                        "--directory", www.toString());
                awaitListening(lab.podB1(), 8000, 9000, 9001, 5201);
                awaitListening(lab.podB2(), 8000);
                await().atMost(Duration.ofSeconds(20)).until(() -> lab.podB1().run("ss", "-ltnH").contains(
                        "[" + SERVER6 + "]:8000") && lab.podB2().run("ss", "-ltnH").contains("[" + PLAIN6 + "]:8000"));
                for (Netns node : List.of(lab.nodeA(), lab.nodeB())) {
                    // what ztunnel programmed, for whoever reads the logs of a failed run
                    Files.writeString(logs.resolve(node.name().substring(prefix.length() + 1) + "-net.txt"),
                            node.run("nft", "list", "ruleset") + node.run("ip", "rule", "show")
                                    + node.run("ip", "route", "show", "table", "all"));
                }

                // everything that crosses between the nodes, from here on
                Path pcap = dir.resolve("wire.pcap");
                Path tsharkLog = logs.resolve("tshark.log");
                Process tshark = lab.nodeA().start(tsharkLog, "tshark", "-i", TwoNodeLab.WIRE_INTERFACE, "-F", "pcap",
                        "-w", pcap.toString(), "-f", "net 10.10.0.0/16 or net fd10:10::/32");
                await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(tsharkLog).contains("Capturing on"));

                // by pod IP and by Service VIP (port 80 -> 8000), as the client pod would
                Netns.Result r = lab.podA1().tryRun("curl", "-sS", "--max-time", "15", "http://" + SERVER + ":8000/"
                        + byIp + ".txt");
                assertThat(r.output()).as("curl by pod IP").isEqualTo(byIp + " body\n");
                r = lab.podA1().tryRun("curl", "-sS", "--max-time", "15", "http://" + VIP + "/" + byVip + ".txt");
                assertThat(r.output()).as("curl by VIP").isEqualTo(byVip + " body\n");
                // over IPv6: the same capture, HBONE to the server's IPv6 address
                r = lab.podA1().tryRun("curl", "-sS", "--max-time", "15", "http://[" + SERVER6 + "]:8000/" + byIp6
                        + ".txt");
                assertThat(r.output()).as("curl by pod IPv6 address").isEqualTo(byIp6 + " body\n");
                // TCP echo
                r = lab.podA1().tryRun("sh", "-c", "echo " + echoed + " | socat -t 3 - TCP:" + SERVER + ":9000");
                assertThat(r.output()).as("socat echo").contains(echoed);
                // a DENY policy on port 9001: the client's connection is closed without an answer
                r = lab.podA1().tryRun("sh", "-c", "echo denied-" + run + " | socat -t 3 - TCP:" + SERVER + ":9001");
                assertThat(r.output()).as("socat to a denied port").doesNotContain("denied-" + run);
                // a pod outside the mesh, to another one: plaintext, untouched
                r = lab.podA2().tryRun("curl", "-sS", "--max-time", "15", "http://" + PLAIN + ":8000/" + legacy + ".txt");
                assertThat(r.output()).as("curl outside the mesh").isEqualTo(legacy + " body\n");

                // an enrolled pod to a pod outside the mesh: captured, passed through in plaintext, from its own address
                r = lab.podA1().tryRun("curl", "-sS", "--max-time", "15", "http://" + PLAIN + ":8000/" + legacy + ".txt");
                assertThat(r.output()).as("curl from the mesh to outside it").isEqualTo(legacy + " body\n");
                r = lab.podA1().tryRun("curl", "-sS", "--max-time", "15", "http://[" + PLAIN6 + "]:8000/" + legacy
                        + ".txt");
                assertThat(r.output()).as("curl over IPv6 from the mesh to outside it").isEqualTo(legacy + " body\n");

                // a neighbour on the server's own node: captured too, through node-b's ztunnel alone
                r = lab.podB3().tryRun("curl", "-sS", "--max-time", "15", "http://" + SERVER + ":8000/" + sameNode
                        + ".txt");
                assertThat(r.output()).as("curl to a pod on the same node").isEqualTo(sameNode + " body\n");
                r = lab.podB3().tryRun("curl", "-sS", "--max-time", "15", "http://[" + SERVER6 + "]:8000/" + sameNode
                        + ".txt");
                assertThat(r.output()).as("curl over IPv6 to a pod on the same node").isEqualTo(sameNode + " body\n");

                // DNS: an enrolled pod's queries to any server's port 53 are answered by its node's ztunnel, mesh
                // names from the registry (the Service's VIP, also by its short name), over UDP and TCP; a pod
                // outside the mesh is not captured (nobody answers at the made-up server address)
                for (String[] q : new String[][] {{"server.mesh.svc.cluster.local", "udp"}, {"server", "udp"},
                    {"server.mesh", "tcp"}}) {
                    r = lab.podA1().tryRun("python3", "-c", DNS_QUERY, q[0], q[1]);
                    assertThat(r.output()).as("DNS %s over %s", q[0], q[1]).isEqualTo("rcode=0 answers=1 " + VIP + "\n");
                }
                // over IPv6 too (the node's dual-stack address takes it), from the pod's IPv6 address
                for (String proto : new String[] {"udp", "tcp"}) {
                    r = lab.podA1().tryRun("python3", "-c", DNS_QUERY, "server.mesh.svc.cluster.local", proto,
                            "fd10:96::53");
                    assertThat(r.output()).as("DNS over IPv6 %s", proto).isEqualTo("rcode=0 answers=1 " + VIP + "\n");
                }
                r = lab.podA2().tryRun("python3", "-c", DNS_QUERY, "server.mesh.svc.cluster.local", "udp");
                assertThat(r.output()).as("DNS from outside the mesh").doesNotContain("rcode=");
                assertThat(lab.nodeA().run("curl", "-sS", "http://" + TwoNodeLab.NODE_A_BRIDGE + ":15020/metrics"))
                        .contains("istio_dns_requests_total{request_protocol=\"tcp\",request_query_type=\"a\"");

                // the server saw each client pod's own address, across nodes and on its own node (ztunnel
                // connected from it, transparently), never the node's
                assertThat(Files.readString(httpLog)).contains(CLIENT + " - - ").contains(NEIGHBOUR + " - - ")
                        .doesNotContain(TwoNodeLab.NODE_B_BRIDGE + " - - ");
                assertThat(Files.readString(logs.resolve("http-server-b2.log"))).contains(OUTSIDER + " - - ")
                        .contains(CLIENT + " - - ");
                assertThat(Files.readString(httpLog6)).as("the IPv6 clients' own addresses").contains(CLIENT6 + " - - ")
                        .contains(NEIGHBOUR6 + " - - ");
                assertThat(Files.readString(plainLog6)).as("passthrough leaves from the pod's own IPv6 address")
                        .contains(CLIENT6 + " - - ");

                // captured: each ztunnel's access log names the other side's SPIFFE identity
                Path ztA = logs.resolve("ztunnel-node-a.log");
                Path ztB = logs.resolve("ztunnel-node-b.log");
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                    assertThat(Files.readString(ztA)).contains("spiffe://cluster.local/ns/mesh/sa/server");
                    assertThat(Files.readString(ztB)).contains("spiffe://cluster.local/ns/mesh/sa/client")
                            .contains("DENY").contains(CLIENT6).contains(NEIGHBOUR6);
                    assertThat(Files.readString(ztA)).contains(SERVER6);
                });
                assertThat(Files.readString(ztA) + Files.readString(ztB)).as("the outsider is not seen by ztunnel")
                        .doesNotContain(OUTSIDER);
                assertThat(Files.readString(ztB)).as("node-b's ztunnel never sees the plain pod's traffic")
                        .doesNotContain(PLAIN);
                assertThat(lab.nodeA().run("curl", "-sS", "http://" + TwoNodeLab.NODE_A_BRIDGE + ":15020/metrics"))
                        .contains("ztunnel_capture_workloads 2.0"); // the client, by its IPv4 and its IPv6 entry

                // the wire: enrolled pods' traffic is only TCP to/from 15008 carrying TLS, never the payload
                tshark.toHandle().destroy();
                assertThat(tshark.waitFor(20, TimeUnit.SECONDS)).isTrue();
                // iperf3, briefly, once the capture has stopped (its gigabytes would only fill the capture file)
                r = lab.podA1().tryRun("iperf3", "-c", SERVER, "-p", "5201", "-t", "2", "-f", "m");
                assertThat(r.ok()).as("iperf3: %s", r.output()).isTrue();
                assertThat(r.output()).contains("receiver");
                String flows = tsharkRead(lab, pcap, "-Y", "ip", "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
                        "-e", "tcp.srcport", "-e", "tcp.dstport");
                // one line per IP packet (tshark's own notes on stderr do not start with an address)
                List<String> meshFlows = flows.lines().filter(l -> l.matches("^10\\.10\\.\\d+\\.\\d+\t.*"))
                        .filter(l -> !l.contains(OUTSIDER) && !l.contains(PLAIN)).toList();
                assertThat(meshFlows).as("mesh packets on the wire").isNotEmpty()
                        .allSatisfy(l -> assertThat(l.split("\t", -1)).as(l).contains("15008"));
                assertThat(flows).as("outsider packets on the wire").contains(OUTSIDER);
                String flows6 = tsharkRead(lab, pcap, "-Y", "ipv6", "-T", "fields", "-e", "ipv6.src", "-e", "ipv6.dst",
                        "-e", "tcp.srcport", "-e", "tcp.dstport");
                // (the passthrough to the plain pod is plaintext by design, as over IPv4)
                List<String> meshFlows6 = flows6.lines().filter(l -> l.startsWith("fd10:10:"))
                        .filter(l -> !l.contains(PLAIN6 + "\t")).toList();
                assertThat(meshFlows6).as("IPv6 mesh packets on the wire").isNotEmpty()
                        .allSatisfy(l -> assertThat(l.split("\t", -1)).as(l).contains("15008"));
                String hellos = tsharkRead(lab, pcap, "-d", "tcp.port==15008,tls", "-Y", "tls.handshake.type == 1",
                        "-T", "fields", "-e", "ip.src");
                assertThat(hellos).as("TLS ClientHellos to 15008").contains(CLIENT);
                assertThat(wireContains(pcap, byIp)).as("by-pod-IP payload on the wire").isFalse();
                assertThat(wireContains(pcap, byVip)).as("by-VIP payload on the wire").isFalse();
                assertThat(wireContains(pcap, echoed)).as("echo payload on the wire").isFalse();
                assertThat(wireContains(pcap, sameNode)).as("same-node payload on the wire").isFalse();
                assertThat(wireContains(pcap, byIp6)).as("IPv6 payload on the wire").isFalse();
                assertThat(wireContains(pcap, legacy)).as("plaintext of the pods outside the mesh").isTrue();

                // SIGTERM: ztunnel leaves its table and policy routing (capture.removeOnExit: false), so the node's
                // ambient pods stay captured, their traffic dropped, until the next ztunnel: never in plaintext
                sup.close();
                for (Netns node : List.of(lab.nodeA(), lab.nodeB())) {
                    assertThat(node.run("nft", "list", "tables")).contains("jmesh");
                    assertThat(node.run("ip", "rule", "show")).contains("fwmark 0x111");
                }
                assertThat(lab.nodeA().run("nft", "list", "table", "inet", "jmesh")).contains(CLIENT);
                assertThat(lab.podA1().tryRun("python3", "-c", "import socket; socket.create_connection(('"
                        + SERVER + "', 8000), timeout=3)").ok()).as("the client pod reaching the server while no"
                        + " ztunnel runs").isFalse();
            }
        }
        String left = new String(new ProcessBuilder("ip", "netns", "list").start().getInputStream().readAllBytes(),
                StandardCharsets.UTF_8);
        assertThat(left).as("namespaces left behind").doesNotContain(prefix);
    }

    /** Copies the run's logs to {@code target/transparent-capture-it/} when the test ends, passed or not. */
    private record KeptLogs(Path logs) implements AutoCloseable {
        @Override
        public void close() throws Exception {
            Path to = Files.createDirectories(Path.of("target", "transparent-capture-it"));
            if (Files.isDirectory(logs)) {
                try (var files = Files.list(logs)) {
                    for (Path f : files.toList()) {
                        Files.copy(f, to.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        }
    }

    /** Root, namespaces, nft, tshark, socat, iperf3, curl, python3: what this test drives. */
    static String unavailableReason() {
        String reason = TwoNodeLab.unavailableReason();
        if (reason != null) {
            return reason;
        }
        for (String[] tool : new String[][] {{"nft", "--version", "nftables"}, {"tshark", "--version", "tshark"},
            {"socat", "-V", "socat"}, {"iperf3", "--version", "iperf3"}, {"curl", "--version", "curl"},
            {"python3", "--version", "python3"}}) {
            try {
                Process p = new ProcessBuilder(tool[0], tool[1]).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    return "`" + tool[0] + " " + tool[1] + "` fails (Debian package " + tool[2] + ")";
                }
            } catch (Exception e) {
                return "`" + tool[0] + "` is not installed (Debian package " + tool[2] + ")";
            }
        }
        return null;
    }

    /** ca, policy, Kafka: addresses of node-a (on lo), routed from node-b over the wire. */
    private static void controlPlaneAddresses(TwoNodeLab lab) {
        for (String a : List.of(CA, POLICY, KAFKA, "10.200.1.3", "10.200.1.4")) {
            lab.nodeA().run("ip", "addr", "add", a + "/32", "dev", "lo");
        }
        lab.nodeB().run("ip", "route", "add", "10.200.1.0/24", "via", TwoNodeLab.NODE_A_WIRE);
    }

    /** A node's ztunnel in transparent mode: its listeners on the bridge address, pods arrive on br0. */
    private static Topology.Node node(String name, String bridge, Netns ns) {
        return new Topology.Node(name, bridge, 15000, ns.name(), "transparent: true, inboundPerWorkload: false",
                "capture: {podInterface: br0, retryInterval: 1s}\n", name.equals("node-a") ? TwoNodeLab.NODE_A_BRIDGE6
                        : TwoNodeLab.NODE_B_BRIDGE6);
    }

    /** The "cluster": namespace mesh enrolled, legacy not; a Service with a VIP; a DENY of port 9001. */
    /** Whether the capture file holds {@code marker}, read in chunks (never the whole file in memory). */
    private static boolean wireContains(Path pcap, String marker) throws Exception {
        byte[] needle = marker.getBytes(StandardCharsets.ISO_8859_1);
        byte[] buf = new byte[1 << 20];
        int keep = 0;
        try (var in = Files.newInputStream(pcap)) {
            for (int n; (n = in.read(buf, keep, buf.length - keep)) > 0; ) {
                int len = keep + n;
                String window = new String(buf, 0, len, StandardCharsets.ISO_8859_1);
                if (window.contains(marker)) {
                    return true;
                }
                // keep the tail: a marker may straddle two reads
                keep = Math.min(needle.length - 1, len);
                System.arraycopy(buf, len - keep, buf, 0, keep);
            }
        }
        return false;
    }

    private Path manifests() throws Exception {
        Path m = Files.createDirectories(dir.resolve("manifests"));
        Files.writeString(m.resolve("00-namespaces.yaml"), """
                apiVersion: v1
                kind: Namespace
                metadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient}}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: legacy}
                """);
        Files.writeString(m.resolve("10-workloads.yaml"), """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: client, namespace: mesh, labels: {app: client}}
                spec: {address: %s, serviceAccount: client, node: node-a, labels: {app: client}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: server, namespace: mesh, labels: {app: server}}
                spec: {address: %s, serviceAccount: server, node: node-b, labels: {app: server},
                       ports: {http: 8000, echo: 9000}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: outsider, namespace: legacy, labels: {app: outsider}}
                spec: {address: %s, serviceAccount: outsider, node: node-a, labels: {app: outsider}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: plain, namespace: legacy, labels: {app: plain}}
                spec: {address: %s, serviceAccount: plain, node: node-b, labels: {app: plain}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: neighbour, namespace: mesh, labels: {app: neighbour}}
                spec: {address: %s, serviceAccount: neighbour, node: node-b, labels: {app: neighbour}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: client-ipv6, namespace: mesh, labels: {app: client}}
                spec: {address: "%s", serviceAccount: client, node: node-a, labels: {app: client}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: server-ipv6, namespace: mesh, labels: {app: server-ipv6}}
                spec: {address: "%s", serviceAccount: server, node: node-b, labels: {app: server-ipv6}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: neighbour-ipv6, namespace: mesh, labels: {app: neighbour}}
                spec: {address: "%s", serviceAccount: neighbour, node: node-b, labels: {app: neighbour}}
                """.formatted(CLIENT, SERVER, OUTSIDER, PLAIN, NEIGHBOUR, CLIENT6, SERVER6, NEIGHBOUR6));
        Files.writeString(m.resolve("20-services.yaml"), """
                apiVersion: v1
                kind: Service
                metadata: {name: server, namespace: mesh}
                spec:
                  clusterIP: %s
                  selector: {app: server}
                  ports:
                    - {name: http, port: 80, targetPort: 8000}
                    - {name: echo, port: 9000, targetPort: 9000}
                """.formatted(VIP));
        Files.writeString(m.resolve("30-policies.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: no-9001, namespace: mesh}
                spec:
                  selector: {matchLabels: {app: server}}
                  action: DENY
                  rules:
                    - to:
                        - operation: {ports: ["9001"]}
                """);
        return m;
    }

    /** LocalKafka starts its broker with this "java": the real one, inside the namespace. */
    private Path inNamespace(Netns ns) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path wrapper = dir.resolve("java-in-" + ns.name());
        Files.writeString(wrapper, "#!/bin/sh\nexec ip netns exec " + ns.name() + " " + java + " \"$@\"\n");
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
        return wrapper;
    }

    private static void awaitListening(Netns pod, int... ports) {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            String listening = pod.run("ss", "-ltnH");
            for (int p : ports) {
                assertThat(listening).contains(":" + p + " ");
            }
        });
    }

    private static String tsharkRead(TwoNodeLab lab, Path pcap, String... args) {
        List<String> cmd = new ArrayList<>(List.of("tshark", "-r", pcap.toString()));
        cmd.addAll(List.of(args));
        return lab.nodeA().run(cmd.toArray(String[]::new));
    }
}
