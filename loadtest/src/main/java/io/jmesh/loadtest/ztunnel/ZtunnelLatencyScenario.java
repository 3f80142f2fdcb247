package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.time.Duration;
import org.HdrHistogram.Histogram;

/**
 * 1 KiB request/response at a fixed 1,000 req/s over 10 persistent connections (coordinated-omission safe), direct
 * vs the HAProxy pair (and that pair without TLS, the ceiling of any two-hop proxy) vs two ztunnels; plus each ztunnel's RSS idle and under this load and its CPU per 1,000 req/s.
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
            topo.startHaproxy();
            topo.startPlainHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Duration d = ctx.duration();
            warmUp(topo.ztunnel(), Topology.warmup(ctx).plusSeconds(ctx.quick() ? 0 : 4));
            Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(2));
            double idleA = Topology.rssMiB(topo.ztunnelA);
            double idleB = Topology.rssMiB(topo.ztunnelB);
            // the paths take turns, ROUNDS times: a burst of noise on this shared machine then lands on all of them
            // rather than on whichever path it happened to meet
            Histogram direct = histogram();
            Histogram haproxy = histogram();
            Histogram plain = histogram();
            Histogram ztunnel = histogram();
            Duration segment = d.dividedBy(ROUNDS);
            double hapCpu = 0;
            double hapSecs = 0;
            double plainCpu = 0;
            double plainSecs = 0;
            double[] cpu = new double[2];
            double[] jit = new double[2];
            double secs = 0;
            double loadA = 0;
            double loadB = 0;
            for (int round = 0; round < ROUNDS; round++) {
                Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
                direct.add(Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, segment));

                Loads.fixedRate(topo.haproxy(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
                double hap0 = topo.haproxyCpuSeconds();
                long th0 = System.nanoTime();
                haproxy.add(Loads.fixedRate(topo.haproxy(), CONNECTIONS, RATE, SIZE, segment));
                hapSecs += (System.nanoTime() - th0) / 1e9;
                hapCpu += topo.haproxyCpuSeconds() - hap0;

                Loads.fixedRate(topo.plainHaproxy(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(1));
                double plain0 = Topology.cpuSeconds(topo.plainHaproxies);
                long tp0 = System.nanoTime();
                plain.add(Loads.fixedRate(topo.plainHaproxy(), CONNECTIONS, RATE, SIZE, segment));
                plainSecs += (System.nanoTime() - tp0) / 1e9;
                plainCpu += Topology.cpuSeconds(topo.plainHaproxies) - plain0;

                // JDK 17 flushes compiled code that goes cold: traffic right before the segment, or the ztunnel
                // phase would measure its own recompilation (tier-3 code and busy JIT threads)
                Loads.fixedRate(topo.ztunnel(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(2));
                double cpuA0 = Topology.cpuSeconds(topo.ztunnelA);
                double cpuB0 = Topology.cpuSeconds(topo.ztunnelB);
                double jitA0 = Topology.jitCpuSeconds(topo.ztunnelA);
                double jitB0 = Topology.jitCpuSeconds(topo.ztunnelB);
                long t0 = System.nanoTime();
                ztunnel.add(Loads.fixedRate(topo.ztunnel(), CONNECTIONS, RATE, SIZE, segment));
                secs += (System.nanoTime() - t0) / 1e9;
                loadA = Math.max(loadA, Topology.rssMiB(topo.ztunnelA));
                loadB = Math.max(loadB, Topology.rssMiB(topo.ztunnelB));
                cpu[0] += Topology.cpuSeconds(topo.ztunnelA) - cpuA0;
                cpu[1] += Topology.cpuSeconds(topo.ztunnelB) - cpuB0;
                jit[0] += Topology.jitCpuSeconds(topo.ztunnelA) - jitA0;
                jit[1] += Topology.jitCpuSeconds(topo.ztunnelB) - jitB0;
            }
            double hapCoresPerHop = hapCpu / hapSecs / topo.haproxies.size();
            double plainCoresPerHop = plainCpu / plainSecs / topo.plainHaproxies.size();
            double coresA = cpu[0] / secs;
            double coresB = cpu[1] / secs;
            double jitA = jit[0] / secs;
            double jitB = jit[1] / secs;

            ResultTable t = new ResultTable("path", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                    "added p99 ms vs direct");
            row(t, "direct TCP", direct, direct);
            row(t, "HAProxy pair (TLS 1.3 mTLS)", haproxy, direct);
            row(t, "HAProxy pair, no TLS (ceiling)", plain, direct);
            row(t, "two ztunnels (HBONE)", ztunnel, direct);
            t.note("ztunnel resources at " + RATE + " req/s: node-a RSS idle " + fmt(idleA) + " MiB, under load "
                    + fmt(loadA) + " MiB, CPU " + cores(coresA) + " cores (" + cores(jitA) + " of them JIT "
                    + "compiler threads); node-b RSS idle " + fmt(idleB) + " MiB, under load " + fmt(loadB)
                    + " MiB, CPU " + cores(coresB) + " cores (" + cores(jitB) + " JIT) (per 1,000 req/s, since the "
                    + "rate is 1,000). Same-run baseline: each HAProxy hop used " + cores(hapCoresPerHop)
                    + " cores; each hop of the pair without TLS (the least a relaying hop costs here) "
                    + cores(plainCoresPerHop) + " cores.");
            t.note("The paths take turns in " + ROUNDS + " rounds of " + segment.toSeconds() + " s each, each segment "
                    + "right after traffic on its own path (the ztunnels were first driven at 5x the rate): JDK 17 "
                    + "flushes compiled code that goes cold, and a segment that starts on it measures "
                    + "recompilation. The JIT share left is not the steady cost of the data path (CPU minus JIT is). "
                    + "RSS under load is the largest seen after a segment.");
            t.note("JVM flags (the chart's javaOptions): " + String.join(" ", ZtunnelJvmFlags.of(ctx))
                    + ". Latency measured from each request's "
                    + "intended send time (coordinated-omission safe), " + d.toSeconds() + " s per path in all, idle CPUs "
                    + "(this VM's wake-up latency is part of every figure).");
            resources = new double[] {idleA, loadA, coresA, idleB, loadB, coresB, jitA, jitB, hapCoresPerHop,
                    plainCoresPerHop};
            t.note(MachineState.note());
            return t;
        }
    }

    /**
     * The last run's ztunnel resources: RSS idle/load and cores, node-a then node-b, then the JIT cores of each and
     * the cores of one HAProxy hop, with TLS and without (for the JSON and tests).
     */
    double[] resources;

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
