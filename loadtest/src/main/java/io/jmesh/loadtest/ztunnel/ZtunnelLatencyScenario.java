package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.time.Duration;
import org.HdrHistogram.Histogram;

/**
 * 1 KiB request/response at a fixed 1,000 req/s over 10 persistent connections (coordinated-omission safe), direct
 * vs the HAProxy pair vs two ztunnels; plus each ztunnel's RSS idle and under this load and its CPU per 1,000 req/s.
 */
public final class ZtunnelLatencyScenario implements Scenario {

    static final int RATE = 1000;
    static final int CONNECTIONS = 10;
    static final int SIZE = 1024;

    @Override
    public String name() {
        return "ztunnel-latency";
    }

    @Override
    public String description() {
        return "1 KiB request/response at a fixed 1,000 req/s over 10 connections: latency, ztunnel RSS and CPU";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            topo.startHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Duration d = ctx.duration();
            Loads.fixedRate(topo.ztunnel(), CONNECTIONS, RATE, SIZE, Topology.warmup(ctx)); // JIT warm-up
            Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, Duration.ofSeconds(2));
            double idleA = Topology.rssMiB(topo.ztunnelA);
            double idleB = Topology.rssMiB(topo.ztunnelB);
            Histogram direct = Loads.fixedRate(topo.direct(), CONNECTIONS, RATE, SIZE, d);
            double hap0 = topo.haproxyCpuSeconds();
            long th0 = System.nanoTime();
            Histogram haproxy = Loads.fixedRate(topo.haproxy(), CONNECTIONS, RATE, SIZE, d);
            double hapCoresPerHop = (topo.haproxyCpuSeconds() - hap0) / ((System.nanoTime() - th0) / 1e9) / 2;
            double cpuA0 = Topology.cpuSeconds(topo.ztunnelA);
            double cpuB0 = Topology.cpuSeconds(topo.ztunnelB);
            double jitA0 = Topology.jitCpuSeconds(topo.ztunnelA);
            double jitB0 = Topology.jitCpuSeconds(topo.ztunnelB);
            long t0 = System.nanoTime();
            Histogram ztunnel = Loads.fixedRate(topo.ztunnel(), CONNECTIONS, RATE, SIZE, d);
            double secs = (System.nanoTime() - t0) / 1e9;
            double loadA = Topology.rssMiB(topo.ztunnelA);
            double loadB = Topology.rssMiB(topo.ztunnelB);
            double coresA = (Topology.cpuSeconds(topo.ztunnelA) - cpuA0) / secs;
            double coresB = (Topology.cpuSeconds(topo.ztunnelB) - cpuB0) / secs;
            double jitA = (Topology.jitCpuSeconds(topo.ztunnelA) - jitA0) / secs;
            double jitB = (Topology.jitCpuSeconds(topo.ztunnelB) - jitB0) / secs;

            ResultTable t = new ResultTable("path", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                    "added p99 ms vs direct");
            row(t, "direct TCP", direct, direct);
            row(t, "HAProxy pair (TLS 1.3 mTLS)", haproxy, direct);
            row(t, "two ztunnels (HBONE)", ztunnel, direct);
            t.note("ztunnel resources at " + RATE + " req/s: node-a RSS idle " + fmt(idleA) + " MiB, under load "
                    + fmt(loadA) + " MiB, CPU " + cores(coresA) + " cores (" + cores(jitA) + " of them JIT "
                    + "compiler threads); node-b RSS idle " + fmt(idleB) + " MiB, under load " + fmt(loadB)
                    + " MiB, CPU " + cores(coresB) + " cores (" + cores(jitB) + " JIT) (per 1,000 req/s, since the "
                    + "rate is 1,000). Same-run baseline: each HAProxy hop used " + cores(hapCoresPerHop)
                    + " cores.");
            t.note("A ztunnel idle during the other paths meets new code paths when its phase starts: the JIT "
                    + "share is recompilation, not the steady cost of the data path (CPU minus JIT is).");
            t.note("JVM flags (the chart's javaOptions): " + String.join(" ", Topology.jvmFlags(ctx))
                    + ". Latency measured from each request's "
                    + "intended send time (coordinated-omission safe), " + d.toSeconds() + " s per path, idle CPUs "
                    + "(this VM's wake-up latency is part of every figure).");
            resources = new double[] {idleA, loadA, coresA, idleB, loadB, coresB, jitA, jitB, hapCoresPerHop};
            t.note("Machine load average at the end (2 CPUs shared with other builds): "
                    + ZtunnelThroughputScenario.loadAverage() + ".");
            return t;
        }
    }

    /**
     * The last run's ztunnel resources: RSS idle/load and cores, node-a then node-b, then the JIT cores of each and
     * the cores of one HAProxy hop (for the JSON and tests).
     */
    double[] resources;

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
