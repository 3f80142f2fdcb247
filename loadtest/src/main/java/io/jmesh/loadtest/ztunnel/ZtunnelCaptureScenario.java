package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.testing.netns.Netns;
import io.jmesh.testing.netns.IstioCni;
import io.jmesh.testing.netns.TwoNodeLab;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Transparent capture against its baselines, in one run, in a {@link TwoNodeLab} (two nodes, pods as network
 * namespaces, one ztunnel per node in transparent mode programming nftables): iperf3 (one stream) and 1 KiB
 * request/response at a fixed 1,000 req/s over 10 connections, along three pod-to-pod paths across the nodes:
 * <ul>
 *   <li>direct: two pods of a namespace that is not enrolled (routed by both nodes, untouched);
 *   <li>SOCKS5: the client pod dials node-a's ztunnel (15080) itself, HBONE to node-b;
 *   <li>transparent capture: the client pod dials the server pod's own address; TPROXY hands the connection to
 *       15001, HBONE to the server pod's 15008, TPROXY to 15008 on node-b, and from there to the server.
 * </ul>
 * Needs root, nftables, iperf3, proxychains4 and socat (the CA is bridged into the node namespaces through a Unix
 * socket, so the lab keeps no network link out).
 */
public final class ZtunnelCaptureScenario implements Scenario {

    private static final Pattern RECEIVED = Pattern.compile(
            "\"sum_received\"\\s*:\\s*\\{[^}]*?\"bits_per_second\"\\s*:\\s*([0-9.eE+]+)", Pattern.DOTALL);
    private static final Pattern LATENCY = Pattern.compile("LATENCY (\\d+) (\\d+) (\\d+) (\\d+) (\\d+)");
    private static final int IPERF_PORT = 5201;
    private static final int ECHO_PORT = 7000;
    private static final String CLIENT = TwoNodeLab.address("pod-a1");
    private static final String SERVER = TwoNodeLab.address("pod-b1");
    private static final String PLAIN_CLIENT = TwoNodeLab.address("pod-a2");
    private static final String PLAIN_SERVER = TwoNodeLab.address("pod-b2");

    @Override
    public String name() {
        return "ztunnel-capture";
    }

    @Override
    public String description() {
        return "transparent capture (nftables TPROXY) and Istio's in-pod mode vs SOCKS5 vs direct pod-to-pod across "
                + "two netns nodes: iperf3 and 1 KiB at 1,000 req/s";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException("cannot run here: " + reason);
        }
        Path dir = ctx.workDir();
        List<Process> rootProcesses = new ArrayList<>();
        try (TwoNodeLab lab = TwoNodeLab.create(Files.createDirectories(dir.resolve("lab")));
                BenchPki pki = new BenchPki()) {
            int caPort = pki.startCa(grpc -> { });
            pki.writeRoot(dir.resolve(CA_ROOT));
            Path sock = dir.resolve("ca.sock");
            rootProcesses.add(new ProcessBuilder("socat", "UNIX-LISTEN:" + sock + ",fork",
                    "TCP:127.0.0.1:" + caPort).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("ca-bridge.log").toFile()).start());
            Path mesh = dir.resolve("mesh.yaml");
            Files.writeString(mesh, """
                    workloads:
                      - {uid: client, name: client, namespace: mesh, serviceAccount: client, addresses: [%s],
                         node: node-a, tunnelProtocol: HBONE}
                      - {uid: server, name: server, namespace: mesh, serviceAccount: server, addresses: [%s],
                         node: node-b, tunnelProtocol: HBONE}
                      - {uid: plain-client, name: plain-client, namespace: legacy, addresses: [%s], node: node-a}
                      - {uid: plain-server, name: plain-server, namespace: legacy, addresses: [%s], node: node-b}
                    """.formatted(CLIENT, SERVER, PLAIN_CLIENT, PLAIN_SERVER));
            bridgeCa(dir, lab.nodeA(), "node-a", sock);
            bridgeCa(dir, lab.nodeB(), "node-b", sock);
            // removeOnExit: the in-pod part below restarts these nodes' ztunnels in in-pod mode, and node-level rules
            // left in place (the default since capture rules outlive ztunnel, failing closed) would still send the
            // pods' HBONE to a node-level listener that no longer exists
            String transparent = "listeners: {localAdmin: 0, transparent: true, inboundPerWorkload: false}\n"
                    + "capture: {podInterface: br0, removeOnExit: true}\n";
            Process ztA = ztunnel(ctx, lab.nodeA(), "node-a", TwoNodeLab.NODE_A_BRIDGE, mesh, transparent, "");
            Process ztB = ztunnel(ctx, lab.nodeB(), "node-b", TwoNodeLab.NODE_B_BRIDGE, mesh, transparent, "");
            awaitReady(lab.nodeA(), TwoNodeLab.NODE_A_BRIDGE, ztA);
            awaitReady(lab.nodeB(), TwoNodeLab.NODE_B_BRIDGE, ztB);

            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            String cp = LabProbe.classPath();
            for (Netns pod : List.of(lab.podB1(), lab.podB2())) {
                String ip = pod == lab.podB1() ? SERVER : PLAIN_SERVER;
                pod.start(dir.resolve("iperf3-server-" + ip + ".log"), "iperf3", "-s", "-B", ip, "-p",
                        String.valueOf(IPERF_PORT));
                Path log = dir.resolve("echo-" + ip + ".log");
                pod.start(log, java, "-Xmx64m", "-XX:+UseSerialGC", "-cp", cp, LabProbe.class.getName(), "echo", ip,
                        String.valueOf(ECHO_PORT));
                awaitLine(log, "ECHO READY");
            }
            Path chains = dir.resolve("proxychains.conf");
            Files.writeString(chains, "strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n"
                    + "[ProxyList]\nsocks5 " + TwoNodeLab.NODE_A_BRIDGE + " 15080\n");
            List<String> viaSocks = List.of("proxychains4", "-q", "-f", chains.toString());
            int secs = (int) Math.max(3, ctx.duration().toSeconds());
            int warm = (int) Topology.warmup(ctx).toSeconds();

            // warm both ztunnels up (JIT) on the captured path, then measure each path
            iperf(dir, lab.podA1(), List.of(), SERVER, warm, "warmup");
            double direct = iperf(dir, lab.podA2(), List.of(), PLAIN_SERVER, secs, "direct");
            double socks = iperf(dir, lab.podA1(), viaSocks, SERVER, secs, "socks5");
            double cpuA0 = Topology.cpuSeconds(ztA);
            double cpuB0 = Topology.cpuSeconds(ztB);
            double captured = iperf(dir, lab.podA1(), List.of(), SERVER, secs, "capture");
            double cpuCaptured = Topology.cpuSeconds(ztA) - cpuA0 + Topology.cpuSeconds(ztB) - cpuB0;

            long[] latDirect = latency(dir, lab.podA2(), java, cp, PLAIN_SERVER, 2, secs, null, "direct");
            long[] latSocks = latency(dir, lab.podA1(), java, cp, SERVER, warm, secs,
                    TwoNodeLab.NODE_A_BRIDGE + ":15080", "socks5");
            long[] latCaptured = latency(dir, lab.podA1(), java, cp, SERVER, warm, secs, null, "capture");

            // in-pod mode: the same two pods, now redirected inside themselves by istio-cni's rules; the ztunnels
            // restart in in-pod mode (their node-level rules removed as they exit) and get the pods over ZDS
            stop(ztA);
            stop(ztB);
            IstioCni.redirect(lab.podA1().name());
            IstioCni.redirect(lab.podB1().name());
            double inPod;
            double cpuInPod;
            long[] latInPod;
            try (IstioCni.Agent agentA = new IstioCni.Agent(dir.resolve("zds-node-a.sock"), dir);
                    IstioCni.Agent agentB = new IstioCni.Agent(dir.resolve("zds-node-b.sock"), dir)) {
                String inPodConfig = "listeners: {localAdmin: 0, transparent: false, inboundPerWorkload: false}\n"
                        + "capture: {enabled: false}\ninpod: {enabled: true, socket: \"%s\"}\n";
                Process ipA = ztunnel(ctx, lab.nodeA(), "node-a", TwoNodeLab.NODE_A_BRIDGE, mesh,
                        inPodConfig.formatted(dir.resolve("zds-node-a.sock")), "-inpod");
                Process ipB = ztunnel(ctx, lab.nodeB(), "node-b", TwoNodeLab.NODE_B_BRIDGE, mesh,
                        inPodConfig.formatted(dir.resolve("zds-node-b.sock")), "-inpod");
                enroll(agentA, lab.podA1(), "client");
                enroll(agentB, lab.podB1(), "server");
                awaitReady(lab.nodeA(), TwoNodeLab.NODE_A_BRIDGE, ipA);
                awaitReady(lab.nodeB(), TwoNodeLab.NODE_B_BRIDGE, ipB);
                iperf(dir, lab.podA1(), List.of(), SERVER, warm, "inpod-warmup");
                double a0 = Topology.cpuSeconds(ipA);
                double b0 = Topology.cpuSeconds(ipB);
                inPod = iperf(dir, lab.podA1(), List.of(), SERVER, secs, "inpod");
                cpuInPod = Topology.cpuSeconds(ipA) - a0 + Topology.cpuSeconds(ipB) - b0;
                // fresh JVMs: one discarded pass first, as the transparent path had the SOCKS5 pass before it
                latency(dir, lab.podA1(), java, cp, SERVER, warm, secs, null, "inpod-warmup");
                latInPod = latency(dir, lab.podA1(), java, cp, SERVER, warm, secs, null, "inpod");
            }

            ResultTable t = new ResultTable("path", "iperf3 Gbit/s", "vs direct", "p50 ms", "p99 ms", "p99.9 ms",
                    "max ms", "added p99 ms vs direct");
            row(t, "direct pod to pod (namespace not enrolled)", direct, direct, latDirect, latDirect);
            row(t, "SOCKS5 into ztunnel, HBONE across", socks, direct, latSocks, latDirect);
            row(t, "transparent capture (TPROXY 15001 -> HBONE -> TPROXY 15008)", captured, direct, latCaptured,
                    latDirect);
            row(t, "in-pod mode (istio-cni's rules: REDIRECT 15001 in the pod -> HBONE -> TPROXY 15008 in the pod)",
                    inPod, direct, latInPod, latDirect);
            t.note("Two nodes and four pods as network namespaces (veth, a bridge per node, routed pods), one ztunnel "
                    + "JVM per node in transparent mode (" + ZtunnelJvmFlags.quoted(ctx) + "); client, "
                    + "ztunnels and server share this machine's CPUs. iperf3: one stream, " + secs + " s per path; "
                    + "latency: 1 KiB at 1,000 req/s over 10 connections, " + secs + " s per path, from each "
                    + "request's intended send time (coordinated-omission safe), client and echo server as their "
                    + "own JVMs in the pods.");
            t.note(String.format("ztunnel CPU on the iperf3 path: transparent capture %.2f, in-pod %.2f CPU s per GB "
                    + "per hop.", cpuCaptured / 2 / (captured * secs / 8e9), cpuInPod / 2 / (inPod * secs / 8e9)));
            t.note("In-pod mode: the same pods and ztunnels restarted with inpod.enabled; mesh-testing's IstioCni "
                    + "installs istio-cni's in-pod rules in both pods and hands each ztunnel its pod over ZDS. The "
                    + "restarted JVMs are warmed by one iperf3 pass of " + warm + " s and one latency pass of " + secs
                    + " s, less than the transparent path's ztunnels saw before their turn; their CPU figure includes "
                    + "what their JIT compilers still used.");
            t.note("Machine load average at the end: " + MachineState.loadAverage() + ".");
            return t;
        } finally {
            for (Process p : rootProcesses) {
                p.destroy();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    static String unavailableReason() {
        String reason = TwoNodeLab.unavailableReason();
        if (reason != null) {
            return reason;
        }
        for (String[] tool : new String[][] {{"nft", "--version"}, {"iperf3", "--version"}, {"socat", "-V"},
            {"proxychains4", "--help"}, {"python3", "--version"}}) {
            try {
                Process p = new ProcessBuilder(tool).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    return tool[0] + " does not answer";
                }
            } catch (IOException e) {
                return tool[0] + " is not installed";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted while checking " + tool[0];
            }
        }
        return null;
    }

    /** The CA, bridged in: 127.0.0.1:15012 of the node's namespace -> the Unix socket -> the benchmark's CA. */
    private static void bridgeCa(Path dir, Netns node, String name, Path caSock) {
        node.start(dir.resolve("ca-bridge-" + name + ".log"), "socat",
                "TCP-LISTEN:15012,bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:" + caSock);
    }

    /** The bench CA's root, which the ztunnels' TLS to it trusts (in the work directory). */
    private static final String CA_ROOT = "ca-root.pem";

    private static Process ztunnel(BenchContext ctx, Netns node, String name, String address, Path mesh, String mode,
            String tag) throws Exception {
        Path dir = ctx.workDir();
        Path cfg = dir.resolve("ztunnel-" + name + tag + ".yaml");
        Files.writeString(cfg, """
                logLevel: warn
                admin: {host: %s, port: 15020}
                node: {name: %s, address: %s}
                discovery: {staticFile: "%s"}
                identity: {caAddress: "127.0.0.1:15012", rootCertFile: "%s"}
                """.formatted(address, name, address, mesh, dir.resolve(CA_ROOT)) + mode);
        List<String> cmd = new ArrayList<>(List.of("env", "MALLOC_ARENA_MAX=" + ZtunnelJvmFlags.mallocArenaMax(ctx),
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ZtunnelJvmFlags.of(ctx));
        cmd.addAll(List.of("-jar", ctx.serviceJar("ztunnel").toString(), "--config", cfg.toString()));
        return node.start(dir.resolve("ztunnel-" + name + tag + ".log"), cmd.toArray(String[]::new));
    }

    /** SIGTERM, as Kubernetes stops a pod: ztunnel drains and removes its node-level rules. */
    private static void stop(Process zt) throws Exception {
        zt.destroy();
        if (!zt.waitFor(30, TimeUnit.SECONDS)) {
            zt.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** The agent tells the node's ztunnel about its pod (once ztunnel said hello), then that this is all. */
    private static void enroll(IstioCni.Agent agent, Netns pod, String name) throws Exception {
        agent.event(); // ztunnel's hello
        String add = agent.add(name, "/var/run/netns/" + pod.name(), name, "mesh", name);
        String snapshot = agent.snapshot();
        if (!add.isEmpty() || !snapshot.isEmpty()) {
            throw new IllegalStateException("ztunnel refused the pod " + name + ": " + add + snapshot);
        }
    }

    private static void awaitReady(Netns node, String address, Process zt) throws Exception {
        for (int i = 0; i < 300; i++) {
            if (!zt.isAlive()) {
                throw new IllegalStateException("ztunnel in " + node.name() + " exited with " + zt.exitValue());
            }
            if (node.tryRun("curl", "-fsS", "-o", "/dev/null", "--max-time", "1",
                    "http://" + address + ":15021/healthz/ready").ok()) {
                return;
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("ztunnel in " + node.name() + " not ready within 60 s");
    }

    private static void awaitLine(Path log, String line) throws Exception {
        for (int i = 0; i < 150; i++) {
            if (Files.exists(log) && Files.readString(log).contains(line)) {
                return;
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("no '" + line + "' in " + log);
    }

    private static double iperf(Path dir, Netns pod, List<String> prefix, String server, int secs, String tag)
            throws Exception {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of("iperf3", "-c", server, "-p", String.valueOf(IPERF_PORT), "-t", String.valueOf(secs), "-J"));
        Path out = dir.resolve("iperf3-" + tag + ".json");
        String json = finish(pod.start(out, cmd.toArray(String[]::new)), out, secs + 30L, "iperf3 " + tag);
        Matcher m = RECEIVED.matcher(json);
        if (!m.find()) {
            throw new IOException("iperf3 (" + tag + ") gave no result: " + json.substring(0, Math.min(400,
                    json.length())));
        }
        return Double.parseDouble(m.group(1));
    }

    private static long[] latency(Path dir, Netns pod, String java, String cp, String server, int warm, int secs,
            String socks, String tag) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx64m", "-XX:+UseSerialGC", "-cp", cp,
                LabProbe.class.getName(), "latency", server, String.valueOf(ECHO_PORT), String.valueOf(warm),
                String.valueOf(secs)));
        if (socks != null) {
            cmd.add(socks);
        }
        Path out = dir.resolve("latency-" + tag + ".log");
        String text = finish(pod.start(out, cmd.toArray(String[]::new)), out, warm + secs + 60L, "latency " + tag);
        Matcher m = LATENCY.matcher(text);
        if (!m.find()) {
            throw new IOException("latency (" + tag + ") gave no result: " + text.substring(0, Math.min(600,
                    text.length())));
        }
        long[] v = new long[5];
        for (int i = 0; i < 5; i++) {
            v[i] = Long.parseLong(m.group(i + 1));
        }
        return v;
    }

    private static String finish(Process p, Path out, long timeoutSeconds, String what) throws Exception {
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(what + " did not finish within " + timeoutSeconds + " s");
        }
        return Files.readString(out);
    }

    private static void row(ResultTable t, String path, double gbps, double direct, long[] lat, long[] latDirect) {
        t.row(path, gbps / 1e9, gbps / direct, lat[0] / 1000.0, lat[2] / 1000.0, lat[3] / 1000.0, lat[4] / 1000.0,
                (lat[2] - latDirect[2]) / 1000.0);
    }
}
