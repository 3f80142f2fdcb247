package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.time.Duration;

/**
 * New connections per second (connect, 64-byte round trip, close; 50 concurrent): pooled HBONE tunnels against
 * the HAProxy pair's per-connection TLS handshakes and direct TCP.
 */
public final class ZtunnelConnectionsScenario implements Scenario {

    static final int CONCURRENCY = 50;

    @Override
    public String name() {
        return "ztunnel-connections";
    }

    @Override
    public String description() {
        return "new connections per second (connect, 64-byte round trip, close; 50 concurrent)";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            topo.startHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Duration d = ctx.duration();
            Loads.connectionRate(topo.ztunnel(), CONCURRENCY, Topology.warmup(ctx));
            double direct = Loads.connectionRate(topo.direct(), CONCURRENCY, d);
            double haproxy = Loads.connectionRate(topo.haproxy(), CONCURRENCY, d);
            // JDK 17 flushes compiled code that went cold while the other paths ran: without traffic right before
            // it, the ztunnel phase would measure its own recompilation
            Loads.connectionRate(topo.ztunnel(), CONCURRENCY, Duration.ofSeconds(ctx.quick() ? 1 : 4));
            double cpuA0 = Topology.cpuSeconds(topo.ztunnelA);
            double cpuB0 = Topology.cpuSeconds(topo.ztunnelB);
            long t0 = System.nanoTime();
            double ztunnel = Loads.connectionRate(topo.ztunnel(), CONCURRENCY, d);
            double secs = (System.nanoTime() - t0) / 1e9;
            double cores = (Topology.cpuSeconds(topo.ztunnelA) - cpuA0 + Topology.cpuSeconds(topo.ztunnelB) - cpuB0)
                    / secs;
            ResultTable t = new ResultTable("path", "connections/s", "vs HAProxy pair", "vs direct");
            t.row("direct TCP", direct, direct / haproxy, 1.0);
            t.row("HAProxy pair (TLS 1.3 mTLS)", haproxy, 1.0, haproxy / direct);
            t.row("two ztunnels (HBONE, pooled)", ztunnel, ztunnel / haproxy, ztunnel / direct);
            t.note(CONCURRENCY + " concurrent loops for " + d.toSeconds() + " s per path; the ztunnel path includes "
                    + "the SOCKS5 exchange (greeting and CONNECT pipelined). Both ztunnels together used "
                    + String.format("%.2f", cores) + " cores; access logs off (logLevel warn). The load generator, "
                    + "proxies and echo server share this machine's CPUs.");
            t.note("Machine load average at the end (2 CPUs shared with other builds): "
                    + ZtunnelThroughputScenario.loadAverage() + ".");
            return t;
        }
    }
}
