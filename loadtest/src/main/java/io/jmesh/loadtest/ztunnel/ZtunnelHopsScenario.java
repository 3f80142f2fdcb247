package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Where the latency of each path goes. During the 1,000 req/s load of {@code ztunnel-latency}, {@code dumpcap}
 * captures the request and response segments on {@code lo}; each request is followed through its six segments
 * (client to the first proxy, across the tunnel, to the server, and back), and the time between consecutive ones
 * is one hop. The client-side histogram says how slow; this says which process the time was spent in.
 */
public final class ZtunnelHopsScenario implements Scenario {

    static final String[] HOPS = {
        "node A outbound (client bytes in, tunnel bytes out)",
        "node B inbound (tunnel in, server bytes out)",
        "server (echo)",
        "node B return (server bytes in, tunnel out)",
        "node A return (tunnel in, client bytes out)",
    };

    /** The load's rate; {@code -Dbench.hops.rate=4000} shows the hops with CPUs that never go idle. */
    static final int RATE = Integer.getInteger("bench.hops.rate", ZtunnelLatencyScenario.RATE);

    /** Which of the six segments of a request a captured packet is, or -1. */
    interface Stages {
        int of(String src, int srcPort, String dst, int dstPort);
    }

    @Override
    public String name() {
        return "ztunnel-hops";
    }

    @Override
    public String description() {
        return "1 KiB request/response at 1,000 req/s over 10 connections: each hop's time on the wire "
                + "(packet capture on lo), ztunnel pair vs HAProxy pair";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        requireTool("dumpcap");
        requireTool("tshark");
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            topo.startHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            ZtunnelLatencyScenario.warmUp(topo.ztunnel(), Topology.warmup(ctx).plusSeconds(ctx.quick() ? 0 : 4));
            Loads.fixedRate(topo.haproxy(), ZtunnelLatencyScenario.CONNECTIONS, ZtunnelLatencyScenario.RATE,
                    ZtunnelLatencyScenario.SIZE, Duration.ofSeconds(2));
            int secs = ctx.quick() ? 2 : 8;
            int port = topo.serverPort;
            Stages hap = (src, sp, dst, dp) -> dst.equals(Topology.HAPROXY_IN) && dp == topo.haproxyPort ? 0
                    : dst.equals(Topology.HAPROXY_OUT) ? 1
                    : dst.equals(Topology.SERVER_IP) && dp == port ? 2
                    : src.equals(Topology.SERVER_IP) && sp == port ? 3
                    : src.equals(Topology.HAPROXY_OUT) ? 4
                    : src.equals(Topology.HAPROXY_IN) && sp == topo.haproxyPort ? 5 : -1;
            Stages zt = (src, sp, dst, dp) -> dst.equals(Topology.NODE_A) && dp == 15080 ? 0
                    : dp == 15008 ? 1
                    : dst.equals(Topology.SERVER_IP) && dp == port ? 2
                    : src.equals(Topology.SERVER_IP) && sp == port ? 3
                    : sp == 15008 ? 4
                    : src.equals(Topology.NODE_A) && sp == 15080 ? 5 : -1;
            // the ztunnel path right after its own traffic (compiled code goes cold otherwise), then HAProxy
            Loads.fixedRate(topo.ztunnel(), ZtunnelLatencyScenario.CONNECTIONS, ZtunnelLatencyScenario.RATE,
                    ZtunnelLatencyScenario.SIZE, Duration.ofSeconds(2));
            List<long[]> ztunnel = followed("ztunnel", capture(ctx, "ztunnel", topo.ztunnel(), secs), zt);
            List<long[]> haproxy = followed("haproxy", capture(ctx, "haproxy", topo.haproxy(), secs), hap);

            ResultTable t = new ResultTable("hop", "ztunnel p50 µs", "ztunnel p99 µs", "ztunnel p99.9 µs",
                    "HAProxy p50 µs", "HAProxy p99 µs", "HAProxy p99.9 µs");
            for (int h = 0; h < HOPS.length; h++) {
                t.row(row(HOPS[h], hop(ztunnel, h, h + 1), hop(haproxy, h, h + 1)));
            }
            t.row(row("on the wire, first request byte to last response byte", hop(ztunnel, 0, 5),
                    hop(haproxy, 0, 5)));
            t.note(String.format("%,d req/s over %d connections. ", RATE, ZtunnelLatencyScenario.CONNECTIONS)
                    + secs + " s captured per path (" + ztunnel.size() + " ztunnel and " + haproxy.size()
                    + " HAProxy requests followed through all six segments) with `dumpcap -i lo`, segments of more "
                    + "than 1,000 bytes only; a segment carrying n requests' records counts n times, and requests are "
                    + "paired with segments in order, so a request overtaken by another on a different connection "
                    + "is mis-paired (rare at 1,000 req/s, where a request takes a quarter of the 1 ms between two).");
            t.note("The proxies' hops include waiting for a CPU: the two proxies, the echo server and the load "
                    + "generator share this machine's 2 CPUs. The client's own view of the same load, with its "
                    + "system calls and wake-ups at both ends, is ztunnel-latency.");
            t.note(MachineState.note());
            return t;
        }
    }

    /** {@link #chains}, failing when the capture held no complete request (a capture that went wrong). */
    private static List<long[]> followed(String path, List<String> packets, Stages stages) throws IOException {
        List<long[]> chains = chains(packets, stages);
        if (chains.isEmpty()) {
            throw new IOException("the " + path + " capture held " + packets.size() + " segments but no request "
                    + "seen in all six (expected about " + RATE + " a second): are the path's addresses and ports "
                    + "the ones the stages expect?");
        }
        return chains;
    }

    private static Object[] row(String hop, long[] zt, long[] hap) {
        return new Object[] {hop, zt[0], zt[1], zt[2], hap[0], hap[1], hap[2]};
    }

    /** p50, p99 and p99.9 of the time from segment {@code from} to segment {@code to}, in microseconds. */
    static long[] hop(List<long[]> chains, int from, int to) {
        if (chains.isEmpty()) {
            return new long[] {-1, -1, -1};
        }
        long[] us = new long[chains.size()];
        for (int i = 0; i < us.length; i++) {
            us[i] = (chains.get(i)[to] - chains.get(i)[from]) / 1000;
        }
        Arrays.sort(us);
        return new long[] {at(us, 0.5), at(us, 0.99), at(us, 0.999)};
    }

    private static long at(long[] sorted, double q) {
        return sorted[Math.min(sorted.length - 1, (int) (sorted.length * q))];
    }

    /**
     * Follows each request through its six segments. {@code packets} are tshark lines (epoch time, source address,
     * source port, destination address, destination port, TCP payload length), in capture order. Returns one array
     * of six capture times (nanoseconds) per request seen in all six.
     */
    static List<long[]> chains(List<String> packets, Stages stages) {
        List<ArrayDeque<long[]>> waiting = new ArrayList<>();
        for (int s = 0; s < 5; s++) {
            waiting.add(new ArrayDeque<>());
        }
        List<long[]> done = new ArrayList<>();
        for (String line : packets) {
            String[] f = line.split("\t");
            if (f.length < 6 || f[2].isEmpty() || f[4].isEmpty()) {
                continue;
            }
            int stage = stages.of(f[1], Integer.parseInt(f[2]), f[3], Integer.parseInt(f[4]));
            if (stage < 0) {
                continue;
            }
            long nanos = epochNanos(f[0]);
            // a segment that carries several requests' bytes (or TLS records) moves each of them
            int requests = Math.max(1, Integer.parseInt(f[5]) / 1000);
            for (int r = 0; r < requests; r++) {
                if (stage == 0) {
                    long[] c = new long[6];
                    c[0] = nanos;
                    waiting.get(0).add(c);
                    continue;
                }
                long[] c = waiting.get(stage - 1).poll();
                if (c == null) {
                    break; // its earlier segments were before the capture started
                }
                c[stage] = nanos;
                if (stage == 5) {
                    done.add(c);
                } else {
                    waiting.get(stage).add(c);
                }
            }
        }
        return done;
    }

    /** "1796271558.401234567" to nanoseconds, without the rounding of a double. */
    static long epochNanos(String epoch) {
        int dot = epoch.indexOf('.');
        if (dot < 0) {
            return Long.parseLong(epoch) * 1_000_000_000L;
        }
        String frac = (epoch.substring(dot + 1) + "000000000").substring(0, 9);
        return Long.parseLong(epoch.substring(0, dot)) * 1_000_000_000L + Long.parseLong(frac);
    }

    /** Captures {@code secs} seconds of the fixed-rate load on {@code path}; returns tshark's field lines. */
    private static List<String> capture(BenchContext ctx, String name, Topology.Dialer path, int secs)
            throws Exception {
        Path pcap = ctx.workDir().resolve(name + ".pcapng");
        Process dumpcap = new ProcessBuilder("dumpcap", "-q", "-i", "lo", "-s", "128", "-f", "tcp and len > 1000",
                "-a", "duration:" + secs, "-w", pcap.toString())
                .redirectErrorStream(true).redirectOutput(ctx.workDir().resolve(name + "-dumpcap.log").toFile())
                .start();
        try {
            // the load starts before the capture and outlasts it, so every captured second is under load
            Thread.sleep(500);
            Loads.fixedRate(path, ZtunnelLatencyScenario.CONNECTIONS, RATE, ZtunnelLatencyScenario.SIZE,
                    Duration.ofSeconds(secs + 2));
            if (!dumpcap.waitFor(30, TimeUnit.SECONDS)) {
                throw new IOException("dumpcap did not stop after " + secs + " s");
            }
        } finally {
            dumpcap.destroy();
        }
        if (!Files.exists(pcap)) {
            throw new IOException("dumpcap wrote no capture (needs root or the pcap capabilities): "
                    + Files.readString(ctx.workDir().resolve(name + "-dumpcap.log")));
        }
        Path fields = ctx.workDir().resolve(name + ".tsv");
        Process tshark = new ProcessBuilder("tshark", "-r", pcap.toString(), "-T", "fields", "-e", "frame.time_epoch",
                "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport", "-e", "tcp.len")
                .redirectError(ctx.workDir().resolve(name + "-tshark.log").toFile())
                .redirectOutput(fields.toFile()).start();
        if (!tshark.waitFor(60, TimeUnit.SECONDS) || tshark.exitValue() != 0) {
            tshark.destroyForcibly();
            throw new IOException("tshark could not read " + pcap + ": "
                    + Files.readString(ctx.workDir().resolve(name + "-tshark.log")));
        }
        return Files.readAllLines(fields);
    }

    private static void requireTool(String tool) throws IOException {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return;
            }
        }
        throw new IOException(tool + " not found on PATH (Debian: apt-get install tshark)");
    }
}
