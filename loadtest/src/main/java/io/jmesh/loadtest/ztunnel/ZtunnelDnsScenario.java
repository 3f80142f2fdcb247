package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;

/**
 * ztunnel's DNS proxy under a fixed rate of UDP A queries from the client workload's address (open loop,
 * coordinated-omission safe, {@link DnsLoads#fixedRate}), at 1,000 and 5,000 queries/s: a mesh Service's FQDN and
 * its short name (answered by node-a's ztunnel from the workload snapshot), an outside name (forwarded by it to a
 * stub resolver on loopback), and the same stub resolver asked directly (the baseline). Plus node-a's CPU during
 * each load.
 */
public final class ZtunnelDnsScenario implements Scenario {

    static final int[] RATES = {1000, 5000};
    /** ztunnel's {@code listeners.dns}, set explicitly on node-a (it is also the default). */
    static final int DNS_PORT = 15053;
    /** The stub upstream resolver's address (a port of its own choosing). */
    static final String UPSTREAM_IP = "127.0.230.53";
    /** The Service's VIP: only ever a value in DNS answers, never dialled (a loopback address all the same). */
    static final String VIP = "127.0.240.10";
    static final String SERVICE_FQDN = "server.default.svc.cluster.local";
    static final String OUTSIDE_NAME = "www.example.com";
    /** What the stub resolver answers for every A question (TEST-NET-1: data only, never dialled). */
    static final String OUTSIDE_ANSWER = "192.0.2.10";

    private static String rmemDefault() {
        try {
            // not Files.readString: on JDK 17 it returns the first byte of a /proc/sys file only
            return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/sys/net/core/rmem_default")).get(0)
                    .trim();
        } catch (java.io.IOException | IndexOutOfBoundsException e) {
            return "unknown";
        }
    }

    @Override
    public String name() {
        return "ztunnel-dns";
    }

    @Override
    public String description() {
        return "UDP A queries at a fixed 1,000 and 5,000 queries/s from a workload to its node's ztunnel DNS proxy "
                + "(mesh names answered, an outside name forwarded) vs the upstream resolver asked directly";
    }

    private enum Route {
        DIRECT("upstream resolver asked directly (baseline)"),
        FQDN("ztunnel, mesh FQDN (answered by ztunnel)"),
        SHORT("ztunnel, mesh short name (answered by ztunnel)"),
        FORWARDED("ztunnel, outside name (forwarded upstream)");

        final String label;

        Route(String label) {
            this.label = label;
        }
    }

    /** One (rate, path) cell, summed over the rounds. */
    private static final class Cell {
        final Histogram latency = new Histogram(60_000_000L, 3);
        final Histogram lag = new Histogram(60_000_000L, 3);
        long answered;
        double seconds;
        long rcodeErrors;
        long wrong;
        long timeouts;
        double cpuA;
        double jitA;
        double wall;
        double stubCpu;
        /** Kernel receive-buffer drops: at the generator's socket, node-a ztunnel's UDP sockets, the stub's. */
        long clientDrops;
        long ztunnelDrops;
        long stubDrops;

        long kernelDrops() {
            return clientDrops + ztunnelDrops + stubDrops;
        }

        void add(DnsLoads.Result r) {
            latency.add(r.latency());
            lag.add(r.sendLag());
            answered += r.answered();
            seconds += r.seconds();
            rcodeErrors += r.rcodeErrors();
            wrong += r.wrong();
            timeouts += r.timeouts();
            clientDrops += r.clientDrops();
        }
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        byte[] vip = InetAddress.getByName(VIP).getAddress();
        byte[] outside = InetAddress.getByName(OUTSIDE_ANSWER).getAddress();
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        try (DnsLoads.StubResolver stub = new DnsLoads.StubResolver(UPSTREAM_IP, outside);
                Topology topo = new Topology(ctx, 0)) {
            InetSocketAddress upstream = stub.address();
            topo.extraMesh = """
                    services:
                      - {name: server, namespace: default, hostname: %s, addresses: [{address: %s}]}
                    """.formatted(SERVICE_FQDN, VIP);
            topo.extraListeners.put("node-a", "dns: " + DNS_PORT);
            topo.extraConfig.put("node-a", "dns: {upstreams: [\"%s:%d\"]}\n".formatted(UPSTREAM_IP,
                    upstream.getPort()));
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            InetSocketAddress proxy = new InetSocketAddress(Topology.NODE_A, DNS_PORT);

            List<DnsLoads.Question> fqdn = List.of(new DnsLoads.Question(SERVICE_FQDN, vip));
            List<DnsLoads.Question> shortName = List.of(new DnsLoads.Question("server", vip));
            List<DnsLoads.Question> forwarded = List.of(new DnsLoads.Question(OUTSIDE_NAME, outside));
            List<DnsLoads.Question> mixed = new ArrayList<>(fqdn);
            mixed.addAll(shortName);
            mixed.addAll(forwarded);

            // warm-up at the top rate, all three kinds of query, until node-a's JIT compilers are done
            int top = RATES[RATES.length - 1];
            long[] warmAnswered = new long[1];
            double settled = topo.warmUntilJitSettles(slice -> warmAnswered[0] += DnsLoads.fixedRate(proxy,
                    Topology.CLIENT_IP, mixed, top, slice).answered(), Topology.warmup(ctx).plusSeconds(4));
            if (warmAnswered[0] == 0) {
                throw new IllegalStateException("ztunnel's DNS proxy at " + proxy + " answered nothing in "
                        + Math.round(settled) + " s of warm-up (see " + topo.dir.resolve("ztunnel-node-a.log") + ")");
            }
            DnsLoads.fixedRate(upstream, Topology.CLIENT_IP, forwarded, top, Duration.ofSeconds(1));

            int rounds = ctx.quick() ? 1 : 2;
            Duration segment = ctx.quick() ? Duration.ofSeconds(1) : Duration.ofSeconds(2);
            Route[] paths = Route.values();
            Cell[][] cells = new Cell[RATES.length][paths.length];
            for (int r = 0; r < RATES.length; r++) {
                for (int p = 0; p < paths.length; p++) {
                    cells[r][p] = new Cell();
                }
                // the paths take turns: a burst of noise on this shared machine lands on all of them
                for (int round = 0; round < rounds; round++) {
                    for (int p = 0; p < paths.length; p++) {
                        Cell c = cells[r][p];
                        InetSocketAddress to = paths[p] == Route.DIRECT ? upstream : proxy;
                        List<DnsLoads.Question> qs = switch (paths[p]) {
                            case DIRECT, FORWARDED -> forwarded;
                            case FQDN -> fqdn;
                            case SHORT -> shortName;
                        };
                        double cpu0 = Topology.cpuSeconds(topo.ztunnelA);
                        double jit0 = Topology.jitCpuSeconds(topo.ztunnelA);
                        long stub0 = threads.getThreadCpuTime(stub.thread().getId());
                        long zDrops0 = DnsLoads.udpDrops(topo.ztunnelA.pid());
                        long stubDrops0 = DnsLoads.udpDrops(upstream);
                        long t0 = System.nanoTime();
                        c.add(DnsLoads.fixedRate(to, Topology.CLIENT_IP, qs, RATES[r], segment));
                        c.wall += (System.nanoTime() - t0) / 1e9;
                        c.cpuA += Topology.cpuSeconds(topo.ztunnelA) - cpu0;
                        c.jitA += Topology.jitCpuSeconds(topo.ztunnelA) - jit0;
                        c.stubCpu += (threads.getThreadCpuTime(stub.thread().getId()) - stub0) / 1e9;
                        c.ztunnelDrops += DnsLoads.udpDrops(topo.ztunnelA.pid()) - zDrops0;
                        c.stubDrops += DnsLoads.udpDrops(upstream) - stubDrops0;
                    }
                }
            }
            double rssA = Topology.rssMiB(topo.ztunnelA);

            ResultTable t = new ResultTable("path", "rate q/s", "achieved q/s", "p50 µs", "p90 µs", "p99 µs",
                    "p99.9 µs", "max µs", "added p50 µs vs direct", "added p99 µs vs direct", "RCODE≠0", "timeouts",
                    "node-a CPU % of a core", "node-a CPU µs/query");
            long wrong = 0;
            long unexplained = 0;
            StringBuilder drops = new StringBuilder();
            StringBuilder resources = new StringBuilder();
            for (int r = 0; r < RATES.length; r++) {
                Histogram direct = cells[r][0].latency;
                for (int p = 0; p < paths.length; p++) {
                    Cell c = cells[r][p];
                    Histogram h = c.latency;
                    double cores = c.cpuA / c.wall;
                    double achieved = c.answered / c.seconds;
                    t.row(paths[p].label, RATES[r], achieved, h.getValueAtPercentile(50),
                            h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
                            h.getMaxValue(), h.getValueAtPercentile(50) - direct.getValueAtPercentile(50),
                            h.getValueAtPercentile(99) - direct.getValueAtPercentile(99), c.rcodeErrors,
                            c.timeouts, 100 * cores, paths[p] == Route.DIRECT ? null : cores * 1e6 / achieved);
                    wrong += c.rcodeErrors + c.wrong;
                    unexplained += Math.max(0, c.timeouts - c.kernelDrops());
                    if (c.kernelDrops() > 0) {
                        drops.append(String.format("%s at %,d q/s: %d at the generator's socket, %d at node-a "
                                + "ztunnel's UDP sockets, %d at the stub's. ", paths[p].label, RATES[r],
                                c.clientDrops, c.ztunnelDrops, c.stubDrops));
                    }
                }
                Cell d = cells[r][0];
                Cell f = cells[r][3];
                double jitMax = 0;
                for (Cell c : cells[r]) {
                    jitMax = Math.max(jitMax, c.jitA / c.wall);
                }
                resources.append(String.format("at %,d q/s: stub resolver %.1f µs CPU per query asked directly, "
                        + "%.1f forwarded; node-a's JIT compiler threads at most %.1f%% of a core in a row; "
                        + "generator's own send lag p50 %d µs, p99 %d µs (in every row's figures alike). ",
                        RATES[r], d.stubCpu * 1e6 / d.answered, f.stubCpu * 1e6 / f.answered, 100 * jitMax,
                        d.lag.getValueAtPercentile(50), d.lag.getValueAtPercentile(99)));
            }
            t.note("One UDP socket bound to the client workload's address (" + Topology.CLIENT_IP + ", node-a) sends "
                    + "A queries open loop at the fixed rate and another thread matches the answers by id: latency is "
                    + "measured from each query's intended send time (coordinated-omission safe). Each answer is "
                    + "checked (id, question, the expected A record); RCODE≠0 counts answers with an error code, "
                    + "timeouts the queries unanswered " + DnsLoads.DRAIN.toSeconds() + " s after the last send. "
                    + "The paths take turns in " + rounds + " round(s) of " + segment.toSeconds() + " s per rate.");
            t.note("node-a's ztunnel answers `" + SERVICE_FQDN + "` and `server` (the client's namespace, default) "
                    + "with the Service VIP from its static mesh file; `" + OUTSIDE_NAME + "` is forwarded byte for "
                    + "byte to `dns.upstreams`: a stub resolver in the load generator's JVM (no DNS server package is "
                    + "available here), one thread on a blocking DatagramChannel at " + UPSTREAM_IP + ", answering "
                    + "every A question with one fixed record (id and question copied). The baseline asks it "
                    + "directly. node-a CPU is the ztunnel process's (user + system) over each row's segments; "
                    + "in the baseline rows it is idle.");
            t.note("Resources: " + resources + String.format("Node-a RSS after the load %.0f MiB. ", rssA)
                    + String.format("Warm-up: %.0f s at %,d q/s (all three names) until node-a's JIT compilers used "
                    + "under 5%% of a core. ", settled, top)
                    + "JVM flags (" + ZtunnelJvmFlags.quoted(ctx) + ").");
            t.note("Datagrams the kernel dropped because a socket's receive buffer was full (`/proc/net/udp`, per "
                    + "socket; ztunnel's DNS sockets have the kernel default, " + rmemDefault() + " bytes): "
                    + (drops.length() == 0 ? "none. " : drops.toString())
                    + "A timeout the kernel did not drop would be a query lost inside ztunnel: the scenario fails "
                    + "on one, and on any RCODE≠0 or wrong answer.");
            t.note(MachineState.note());
            if (wrong > 0 || unexplained > 0) {
                throw new IllegalStateException("ztunnel-dns: " + wrong + " answers with an error code or the "
                        + "wrong content, " + unexplained + " unanswered queries the kernel did not drop "
                        + "(expected: 0)\n" + t.markdown());
            }
            return t;
        }
    }
}
