package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * iperf3, one TCP stream, through two ztunnels (SOCKS5 in via proxychains4, HBONE between the nodes) against
 * direct loopback TCP and a two-hop HAProxy TLS 1.3 mTLS pair, in one run.
 */
public final class ZtunnelThroughputScenario implements Scenario {

    private static final Pattern RECEIVED = Pattern.compile(
            "\"sum_received\"\\s*:\\s*\\{[^}]*?\"bits_per_second\"\\s*:\\s*([0-9.eE+]+)", Pattern.DOTALL);

    @Override
    public String name() {
        return "ztunnel-throughput";
    }

    @Override
    public String description() {
        return "iperf3, one stream: direct TCP vs a two-hop HAProxy TLS 1.3 mTLS pair vs two ztunnels (HBONE)";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        int port = 15201;
        try (Topology topo = new Topology(ctx, port)) {
            Process server = new ProcessBuilder("iperf3", "-s", "-B", Topology.SERVER_IP, "-p", String.valueOf(port))
                    .redirectErrorStream(true).redirectOutput(ctx.workDir().resolve("iperf3-server.log").toFile())
                    .start();
            topo.processes.add(server);
            if (Topology.deployedWhereItMatters()) {
                topo.runAsDeployed(); // the goal's ratio is for a ztunnel as the chart runs it
            }
            topo.startHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            int secs = (int) Math.max(3, ctx.duration().toSeconds());
            List<String> viaZtunnel = viaNodeA(ctx);
            // warm both JVMs up (JIT) before measuring
            iperf(ctx, viaZtunnel, Topology.SERVER_IP, port, (int) Topology.warmup(ctx).toSeconds(), "warmup");
            double direct = iperf(ctx, List.of(), Topology.SERVER_IP, port, secs, "direct");
            double hap0 = topo.haproxyCpuSeconds();
            double haproxy = iperf(ctx, List.of(), Topology.HAPROXY_IN, topo.haproxyPort, secs, "haproxy");
            double hapCpu = topo.haproxyCpuSeconds() - hap0;
            double cpuA0 = Topology.cpuSeconds(topo.ztunnelA);
            double cpuB0 = Topology.cpuSeconds(topo.ztunnelB);
            double ztunnel = iperf(ctx, viaZtunnel, Topology.SERVER_IP, port, secs, "ztunnel");
            double cpuA = Topology.cpuSeconds(topo.ztunnelA) - cpuA0;
            double cpuB = Topology.cpuSeconds(topo.ztunnelB) - cpuB0;
            double gb = ztunnel * secs / 8e9;
            double rssA = Topology.rssMiB(topo.ztunnelA);
            double rssB = Topology.rssMiB(topo.ztunnelB);
            // the same pair with pool.perEventLoop: a tunnel's socket and its HBONE connection share a thread
            topo.startZtunnels(ctx.serviceJar("ztunnel"), true);
            iperf(ctx, viaZtunnel, Topology.SERVER_IP, port, (int) Topology.warmup(ctx).toSeconds(), "warmup-pel");
            double pelA0 = Topology.cpuSeconds(topo.ztunnelA);
            double pelB0 = Topology.cpuSeconds(topo.ztunnelB);
            double perLoop = iperf(ctx, viaZtunnel, Topology.SERVER_IP, port, secs, "ztunnel-per-loop");
            double pelCpu = Topology.cpuSeconds(topo.ztunnelA) - pelA0 + Topology.cpuSeconds(topo.ztunnelB) - pelB0;
            ResultTable t = new ResultTable("path", "Gbit/s", "vs direct", "vs HAProxy pair",
                    "CPU s per GB per hop");
            t.row("direct TCP", direct / 1e9, 1.0, direct / haproxy, null);
            t.row("HAProxy pair (TLS 1.3 mTLS)", haproxy / 1e9, haproxy / direct, 1.0,
                    hapCpu / topo.haproxies.size() / (haproxy * secs / 8e9));
            t.row("two ztunnels (HBONE)", ztunnel / 1e9, ztunnel / direct, ztunnel / haproxy,
                    (cpuA + cpuB) / 2 / gb);
            t.row("two ztunnels (HBONE), pool.perEventLoop", perLoop / 1e9, perLoop / direct, perLoop / haproxy,
                    pelCpu / 2 / (perLoop * secs / 8e9));
            t.note("Default pool (one per key, Istio's semantics) vs pool.perEventLoop=true (no buffer crosses "
                    + "threads). Machine load average at the end: " + MachineState.loadAverage() + ".");
            t.note("One iperf3 stream for " + secs + " s per path, warmed-up JVMs; client, proxies and server share "
                    + "this machine's CPUs. ztunnel JVM flags (" + ZtunnelJvmFlags.quoted(ctx)
                    + String.format("). ztunnel RSS after its iperf3 run: "
                    + "node-a %.0f MiB, node-b %.0f MiB.", rssA, rssB));
            t.note(topo.asDeployed() ? "The ztunnels ran as the chart deploys them: configuration from a delta ADS "
                    + "stream over TLS, certificates from a CA over TLS, each connection's events sent to a real Kafka "
                    + "broker on this machine, and the access log on (logLevel info). -Dbench.ztunnel.asDeployed=false "
                    + "runs them from a static file without events."
                    : "The ztunnels read a static mesh file and sent no events (-Dbench.ztunnel.asDeployed=false).");
            return t;
        }
    }

    /** The command prefix that sends iperf3 into node-a's SOCKS5 listener: proxychains4 and its config. */
    static List<String> viaNodeA(BenchContext ctx) throws IOException {
        Path chains = ctx.workDir().resolve("proxychains.conf");
        Files.writeString(chains, "strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n"
                + "[ProxyList]\nsocks5 " + Topology.NODE_A + " 15080\n");
        return List.of("proxychains4", "-q", "-f", chains.toString());
    }

    /** One iperf3 client run of {@code secs} s (through {@code prefix}, e.g. proxychains4); returns bits/s received. */
    static double iperf(BenchContext ctx, List<String> prefix, String host, int port, int secs, String tag)
            throws Exception {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of("iperf3", "-c", host, "-p", String.valueOf(port), "-B", Topology.CLIENT_IP,
                "-t", String.valueOf(secs), "-J"));
        Path out = ctx.workDir().resolve("iperf3-" + tag + ".json");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!p.waitFor(secs + 30L, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("iperf3 (" + tag + ") did not finish");
        }
        String json = Files.readString(out);
        Matcher m = RECEIVED.matcher(json);
        if (!m.find()) {
            throw new IOException("iperf3 (" + tag + ") gave no result: " + json.substring(0, Math.min(400, json.length())));
        }
        return Double.parseDouble(m.group(1));
    }
}
