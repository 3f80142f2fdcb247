package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.loadtest.ztunnel.ZtunnelJvmFlags.Footprint;
import java.nio.file.Path;
import java.time.Duration;
import org.HdrHistogram.Histogram;

/**
 * 1 KiB request/response at a fixed 1,000 req/s over 10 persistent connections (coordinated-omission safe), direct
 * vs the HAProxy pair (and that pair without TLS, the ceiling of any two-hop proxy) vs two ztunnels, with the chart's
 * default JVM flags and then with its small-footprint ones; plus each ztunnel's RSS idle and under this load and its
 * CPU per 1,000 req/s.
 */
public final class ZtunnelLatencyScenario implements Scenario {

    static final int RATE = 1000;
    static final int CONNECTIONS = 10;
    static final int SIZE = 1024;
    static final int ROUNDS = 3;

    @Override
    public String name() {
        return "ztunnel-latency";
    }

    @Override
    public String description() {
        return "1 KiB request/response at a fixed 1,000 req/s over 10 connections: latency, ztunnel RSS and CPU";
    }

    /**
     * Brings a path to its steady state. First a short pass whose connections close: the first close of a ztunnel
     * loads classes (channel shutdown, stream reset) that invalidate compiled code of the whole hot path, and that
     * one-time deoptimisation belongs before, not in, the measurement. Then 5x the measured rate: at 1,000 req/s alone
     * the JIT compilers would still be busy tens of seconds in. It lasts past the first HTTP/2 PING (10 s), another
     * first-time class load. Then the measured rate.
     */
    static void warmUp(Topology.Dialer path, Duration d) throws Exception {
        Loads.fixedRate(path, CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
        Loads.fixedRate(path, 2 * CONNECTIONS, 5 * RATE, SIZE, d);
        Loads.fixedRate(path, CONNECTIONS, RATE, SIZE, Duration.ofSeconds(2));
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            if (Topology.deployedWhereItMatters()) {
                topo.runAsDeployed();
            }
            topo.startHaproxy();
            topo.startPlainHaproxy();
            Path jar = ctx.serviceJar("ztunnel");
            topo.startZtunnels(jar, Footprint.DEFAULT);
            Duration d = ctx.duration();
            Duration segment = d.dividedBy(ROUNDS);
            PairRun ztunnel = new PairRun();
            ztunnel.warmUp(topo, ctx);
            // the paths take turns, ROUNDS times: a burst of noise on this shared machine then lands on all of them
            // rather than on whichever path it happened to meet
            Histogram direct = histogram();
            Histogram haproxy = histogram();
            Histogram plain = histogram();
            SlowRequests directSlow = new SlowRequests();
            SlowRequests haproxySlow = new SlowRequests();
            SlowRequests plainSlow = new SlowRequests();
            double hapCpu = 0;
            double hapSecs = 0;
            double plainCpu = 0;
            double plainSecs = 0;
            for (int round = 0; round < ROUNDS; round++) {
                directSegment(topo, direct, directSlow, segment);

                Loads.fixedRate(topo.haproxy(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
                double hap0 = topo.haproxyCpuSeconds();
                long th0 = System.nanoTime();
                haproxy.add(Loads.fixedRate(topo.haproxy(), CONNECTIONS, RATE, SIZE, segment, haproxySlow));
                hapSecs += (System.nanoTime() - th0) / 1e9;
                hapCpu += topo.haproxyCpuSeconds() - hap0;

                Loads.fixedRate(topo.plainHaproxy(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
                double plain0 = Topology.cpuSeconds(topo.plainHaproxies);
                long tp0 = System.nanoTime();
                plain.add(Loads.fixedRate(topo.plainHaproxy(), CONNECTIONS, RATE, SIZE, segment, plainSlow));
                plainSecs += (System.nanoTime() - tp0) / 1e9;
                plainCpu += Topology.cpuSeconds(topo.plainHaproxies) - plain0;

                ztunnel.segment(topo, segment);
            }
            // the chart's small-footprint profile under the same load: the pair restarts with its flags and takes
            // turns with direct TCP (a pair at a time: both run on the same node addresses)
            topo.startZtunnels(jar, Footprint.SMALL);
            PairRun small = new PairRun();
            small.warmUp(topo, ctx);
            for (int round = 0; round < ROUNDS; round++) {
                directSegment(topo, direct, directSlow, segment);
                small.segment(topo, segment);
            }
            double hapCoresPerHop = hapCpu / hapSecs / topo.haproxies.size();
            double plainCoresPerHop = plainCpu / plainSecs / topo.plainHaproxies.size();

            ResultTable t = new ResultTable("path", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                    "added p99 ms vs direct");
            row(t, "direct TCP", direct, direct);
            row(t, "HAProxy pair (TLS 1.3 mTLS)", haproxy, direct);
            row(t, "HAProxy pair, no TLS (ceiling)", plain, direct);
            row(t, "two ztunnels (HBONE)", ztunnel.latency, direct);
            row(t, "two ztunnels (HBONE), small-footprint flags", small.latency, direct);
            t.note("ztunnel resources at " + RATE + " req/s, with the chart's default flags: " + ztunnel.resources()
                    + "; with its small-footprint flags: " + small.resources() + " (CPU per 1,000 req/s, since the "
                    + "rate is 1,000). Same-run baseline: each HAProxy hop used " + cores(hapCoresPerHop)
                    + " cores; each hop of the pair without TLS (the least a relaying hop costs here) "
                    + cores(plainCoresPerHop) + " cores.");
            t.note("The paths take turns in " + ROUNDS + " rounds of " + segment.toSeconds() + " s each, each segment "
                    + "right after traffic on its own path (the ztunnels were first driven at 5x the rate): JDK 17 "
                    + "flushes compiled code that goes cold, and a segment that starts on it measures "
                    + "recompilation. The JIT share left is not the steady cost of the data path (CPU minus JIT is). "
                    + "RSS under load is the largest seen after a segment. The small-footprint pair ran after the "
                    + "others, its rounds taking turns with direct TCP.");
            t.note("JVM flags (the chart's javaOptions): "
                    + String.join(" ", ZtunnelJvmFlags.of(ctx, Footprint.DEFAULT)) + "; MALLOC_ARENA_MAX="
                    + ZtunnelJvmFlags.mallocArenaMax(ctx, Footprint.DEFAULT)
                    + ". Small-footprint flags (the chart's smallFootprint.javaOptions, ztunnel.footprint: small): "
                    + String.join(" ", ZtunnelJvmFlags.of(ctx, Footprint.SMALL)) + "; MALLOC_ARENA_MAX="
                    + ZtunnelJvmFlags.mallocArenaMax(ctx, Footprint.SMALL) + ". Latency measured from each request's "
                    + "intended send time (coordinated-omission safe), " + d.toSeconds() + " s per path in all, idle "
                    + "CPUs (this VM's wake-up latency is part of every figure).");
            t.note("Where each path's tail lies (requests over 1 ms; a burst is " + SlowRequests.BURST_SIZE
                    + " or more of them completing within " + SlowRequests.BURST_GAP_NANOS / 1_000_000 + " ms of "
                    + "each other, most connections stalled at once rather than one slow request): direct TCP "
                    + "(over twice the time of each other path: it takes turns with both pairs) " + directSlow.summary()
                    + "; HAProxy pair " + haproxySlow.summary() + "; HAProxy pair without TLS " + plainSlow.summary() + "; ztunnels " + ztunnel.slow.summary() + "; ztunnels, small-footprint "
                    + small.slow.summary() + ". Bursts about 500 ms apart on every path are this VM's DAMON sampling "
                    + "interval (docs/ztunnel.md, \"When the tail happens\").");
            t.note(topo.asDeployed() ? "The ztunnels ran as the chart deploys them: their configuration from a "
                    + "delta ADS stream over TLS (a stand-in serving the two workloads), their connection events to "
                    + "a real Kafka broker (KRaft, on this machine, idle otherwise), their certificates from a CA "
                    + "over TLS. -Dbench.ztunnel.asDeployed=false runs them from a static file without events."
                    : "The ztunnels read a static mesh file and sent no events (-Dbench.ztunnel.asDeployed=false); "
                    + "their certificates came from a CA over TLS.");
            t.note(MachineState.note());
            return t;
        }
    }

    private static void directSegment(Topology topo, Histogram into, SlowRequests slow, Duration segment)
            throws Exception {
        Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
        into.add(Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, segment, slow));
    }

    /** One ztunnel pair's figures over the segments it ran: latency, and node-a's and node-b's RSS and CPU. */
    private static final class PairRun {
        final Histogram latency = histogram();
        final SlowRequests slow = new SlowRequests();
        final double[] idle = new double[2];
        final double[] load = new double[2];
        final double[] cpu = new double[2];
        final double[] jit = new double[2];
        double secs;

        /** Brings the pair to its steady state, then takes its idle RSS. */
        void warmUp(Topology topo, BenchContext ctx) throws Exception {
            ZtunnelLatencyScenario.warmUp(topo.ztunnel(), Topology.warmup(ctx).plusSeconds(ctx.quick() ? 0 : 4));
            Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(2));
            idle[0] = Topology.rssMiB(topo.ztunnelA);
            idle[1] = Topology.rssMiB(topo.ztunnelB);
        }

        void segment(Topology topo, Duration segment) throws Exception {
            // JDK 17 flushes compiled code that goes cold: traffic right before the segment, or the ztunnel
            // phase would measure its own recompilation (tier-3 code and busy JIT threads)
            Loads.fixedRate(topo.ztunnel(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(2));
            Process[] nodes = {topo.ztunnelA, topo.ztunnelB};
            double[] cpu0 = new double[2];
            double[] jit0 = new double[2];
            for (int i = 0; i < 2; i++) {
                cpu0[i] = Topology.cpuSeconds(nodes[i]);
                jit0[i] = Topology.jitCpuSeconds(nodes[i]);
            }
            long t0 = System.nanoTime();
            latency.add(Loads.fixedRate(topo.ztunnel(), CONNECTIONS, RATE, SIZE, segment, slow));
            secs += (System.nanoTime() - t0) / 1e9;
            for (int i = 0; i < 2; i++) {
                load[i] = Math.max(load[i], Topology.rssMiB(nodes[i]));
                cpu[i] += Topology.cpuSeconds(nodes[i]) - cpu0[i];
                jit[i] += Topology.jitCpuSeconds(nodes[i]) - jit0[i];
            }
        }

        String resources() {
            return "node-a RSS idle " + fmt(idle[0]) + " MiB, under load " + fmt(load[0]) + " MiB, CPU "
                    + cores(cpu[0] / secs) + " cores (" + cores(jit[0] / secs) + " of them JIT compiler threads); "
                    + "node-b RSS idle " + fmt(idle[1]) + " MiB, under load " + fmt(load[1]) + " MiB, CPU "
                    + cores(cpu[1] / secs) + " cores (" + cores(jit[1] / secs) + " JIT)";
        }
    }

    private static Histogram histogram() {
        return new Histogram(60_000_000L, 3);
    }

    private static void row(ResultTable t, String name, Histogram h, Histogram direct) {
        t.row(name, ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(90)), ms(h.getValueAtPercentile(99)),
                ms(h.getValueAtPercentile(99.9)), ms(h.getMaxValue()),
                ms(h.getValueAtPercentile(99)) - ms(direct.getValueAtPercentile(99)));
    }

    private static double ms(long micros) {
        return micros / 1000.0;
    }

    private static String cores(double v) {
        return String.format("%.3f", v);
    }

    private static String fmt(double v) {
        return String.format("%.0f", v);
    }
}
