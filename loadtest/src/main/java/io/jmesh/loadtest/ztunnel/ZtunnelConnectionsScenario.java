package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.time.Duration;

/**
 * New connections per second (connect, 64-byte round trip, close; 50 concurrent): pooled HBONE tunnels against
 * the HAProxy pair's per-connection TLS handshakes and direct TCP; the same HAProxy pair without TLS is the ceiling of
 * any two-hop proxy on the machine.
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
            if (Topology.deployedWhereItMatters()) {
                topo.runAsDeployed(); // each connection's events are part of what it costs
            }
            topo.startHaproxy();
            topo.startPlainHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Duration d = ctx.duration();
            Loads.connectionRate(topo.ztunnel(), CONCURRENCY, Topology.warmup(ctx));
            double direct = Loads.connectionRate(topo.direct(), CONCURRENCY, d);
            double haproxy = Loads.connectionRate(topo.haproxy(), CONCURRENCY, d);
            double plain0 = Topology.cpuSeconds(topo.plainHaproxies);
            long tp0 = System.nanoTime();
            double plain = Loads.connectionRate(topo.plainHaproxy(), CONCURRENCY, d);
            double plainCores = (Topology.cpuSeconds(topo.plainHaproxies) - plain0) / ((System.nanoTime() - tp0) / 1e9);
            // right before the measurement, until the JIT compilers are done: code that went cold while the other
            // paths ran is recompiled, and on two shared cores C2 needs far longer than the first warm-up to catch up
            double settled = topo.warmUntilJitSettles(
                    slice -> Loads.connectionRate(topo.ztunnel(), CONCURRENCY, slice),
                    Duration.ofSeconds(ctx.quick() ? 4 : 60));
            double cpuA0 = Topology.cpuSeconds(topo.ztunnelA);
            double cpuB0 = Topology.cpuSeconds(topo.ztunnelB);
            double jitA0 = Topology.jitCpuSeconds(topo.ztunnelA);
            double jitB0 = Topology.jitCpuSeconds(topo.ztunnelB);
            double kafka0 = topo.kafkaCpuSeconds();
            Topology.EventCounts events0 = topo.asDeployed() ? topo.eventCounts() : null;
            long t0 = System.nanoTime();
            double ztunnel = Loads.connectionRate(topo.ztunnel(), CONCURRENCY, d);
            double secs = (System.nanoTime() - t0) / 1e9;
            Topology.EventCounts events = null;
            if (topo.asDeployed()) {
                // the last batches linger 50 ms and are acknowledged after: wait for them before counting
                Thread.sleep(1000);
                events = topo.eventCounts().minus(events0);
                if (events.published() < ztunnel * secs) {
                    throw new IllegalStateException("as deployed, the ztunnels' events did not reach Kafka: "
                            + events + " for " + Math.round(ztunnel * secs) + " connections");
                }
            }
            double kafkaCores = (topo.kafkaCpuSeconds() - kafka0) / secs;
            double cores = (Topology.cpuSeconds(topo.ztunnelA) - cpuA0 + Topology.cpuSeconds(topo.ztunnelB) - cpuB0)
                    / secs;
            double jit = (Topology.jitCpuSeconds(topo.ztunnelA) - jitA0 + Topology.jitCpuSeconds(topo.ztunnelB) - jitB0)
                    / secs;
            ResultTable t = new ResultTable("path", "connections/s", "vs HAProxy pair", "vs direct");
            t.row("direct TCP", direct, direct / haproxy, 1.0);
            t.row("HAProxy pair (TLS 1.3 mTLS)", haproxy, 1.0, haproxy / direct);
            t.row("HAProxy pair, no TLS (ceiling)", plain, plain / haproxy, plain / direct);
            t.row("two ztunnels (HBONE, pooled)", ztunnel, ztunnel / haproxy, ztunnel / direct);
            t.note(CONCURRENCY + " concurrent loops for " + d.toSeconds() + " s per path; the ztunnel path includes "
                    + "the SOCKS5 exchange (greeting and CONNECT pipelined). Both ztunnels together used "
                    + String.format("%.2f", cores) + " cores (of which JIT compilers " + String.format("%.2f", jit)
                    + "), " + String.format("%.0f", (cores - jit) / ztunnel * 1e6) + " µs of ztunnel CPU per connection "
                    + "without the JIT; access logs " + (topo.asDeployed() ? "on (logLevel info, one JSON line per connection "
                    + "and node, to a file)" : "off (logLevel warn)") + ". The load generator, proxies and echo server share this "
                    + "machine's CPUs.");
            t.note(String.format("The plaintext HAProxy pair (no TLS, no handshakes: two relaying hops and nothing "
                    + "else) used %.2f cores, %.0f µs per connection for both hops: the most any two-hop proxy can "
                    + "do on this machine, and the ztunnel pair reached %.0f%% of it while adding mTLS and HBONE.",
                    plainCores, plainCores / plain * 1e6, 100 * ztunnel / plain));
            t.note(topo.asDeployed() ? String.format("The ztunnels ran as the chart deploys them: configuration from "
                    + "a delta ADS stream over TLS, certificates from a CA over TLS, and each connection's events "
                    + "(OPENED and CLOSED, from both ends) sent to a real Kafka broker, which shares this machine "
                    + "(it used %.2f cores during the ztunnel measurement; in a cluster it runs elsewhere). "
                    + "Kafka acknowledged %.0f events of the measurement (%.1f per connection), %.0f were dropped. "
                    + "-Dbench.ztunnel.asDeployed=false runs them from a static file without events.", kafkaCores,
                    events.published(), events.published() / (ztunnel * secs), events.dropped())
                    : "The ztunnels read a static mesh file and sent no events (-Dbench.ztunnel.asDeployed=false).");
            t.note(String.format("Before the ztunnel measurement its path ran %.0f s more, until the JIT compilers "
                    + "of both ztunnels used under 5%% of a core (at most 60 s).", settled));
            t.note(MachineState.note());
            return t;
        }
    }
}
