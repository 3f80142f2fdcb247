package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * Egress to a service outside the mesh (a ServiceEntry's), new connections per second (connect, 64-byte round trip,
 * close; 50 concurrent) through node-a's ztunnel: to an endpoint known by IP, and to one known by DNS name, which
 * ztunnel resolves when a connection picks it (Istio's on-demand DNS, answers cached for their TTL) from a stub name
 * server on loopback. Against direct TCP and one plaintext HAProxy hop whose server is the same DNS name, resolved by
 * HAProxy's own resolvers from the same stub: the cost of resolving per connection next to resolving in the
 * background.
 */
public final class ZtunnelEgressScenario implements Scenario {

    static final int CONCURRENCY = 50;
    /** The server outside the mesh (no workload of the mesh holds its address). */
    static final String EXTERNAL_IP = "127.0.221.11";
    static final String UPSTREAM_IP = "127.0.230.54";
    static final String HOSTNAME = "db.bench.example";
    static final String VIP_BY_NAME = "127.0.240.21";
    static final String VIP_BY_IP = "127.0.240.22";
    static final String HAPROXY_IP = "127.0.250.5";
    static final int HAPROXY_PORT = 17010;

    @Override
    public String name() {
        return "ztunnel-egress";
    }

    @Override
    public String description() {
        return "new connections per second to a service outside the mesh through node-a's ztunnel, its endpoint known"
                + " by IP vs by DNS name (on-demand DNS), vs direct TCP and a plaintext HAProxy hop resolving the name";
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        try (Loads.Echo external = new Loads.Echo(EXTERNAL_IP);
                DnsLoads.StubResolver stub = new DnsLoads.StubResolver(UPSTREAM_IP,
                        InetAddress.getByName(EXTERNAL_IP).getAddress());
                Topology topo = new Topology(ctx, 0)) {
            int port = external.port();
            InetSocketAddress upstream = stub.address();
            String ports = "[{servicePort: %d, targetPort: %d}]".formatted(port, port);
            topo.extraWorkloads = """
                      - {uid: ext-by-ip, name: ext-by-ip, namespace: default, addresses: [%s],
                         services: {"default/ip.bench.example": {ports: %s}}}
                      - {uid: ext-by-name, name: ext-by-name, namespace: default, hostname: %s,
                         services: {"default/%s": {ports: %s}}}
                    """.formatted(EXTERNAL_IP, ports, HOSTNAME, HOSTNAME, ports);
            topo.extraMesh = """
                    services:
                      - {name: ext-ip, namespace: default, hostname: ip.bench.example, addresses: [{address: %s}],
                         ports: %s}
                      - {name: ext-name, namespace: default, hostname: %s, addresses: [{address: %s}], ports: %s}
                    """.formatted(VIP_BY_IP, ports, HOSTNAME, VIP_BY_NAME, ports);
            topo.extraConfig.put("node-a", "dns: {upstreams: [\"%s:%d\"]}\n".formatted(UPSTREAM_IP,
                    upstream.getPort()));
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Process haproxy = topo.startPlainHop("hap-egress", """
                    resolvers stub
                      nameserver ns1 %s:%d
                      hold valid 60s
                      timeout resolve 1s
                      timeout retry 1s
                    frontend egress_in
                      bind %s:%d
                      default_backend ext
                    backend ext
                      server s1 %s:%d resolvers stub resolve-prefer ipv4 init-addr none
                    """.formatted(UPSTREAM_IP, upstream.getPort(), HAPROXY_IP, HAPROXY_PORT, HOSTNAME, port));
            Topology.waitListening(HAPROXY_IP, HAPROXY_PORT);

            Topology.Dialer direct = () -> Topology.connect(new InetSocketAddress(EXTERNAL_IP, port));
            Topology.Dialer hap = () -> Topology.connect(new InetSocketAddress(HAPROXY_IP, HAPROXY_PORT));
            InetSocketAddress socks = new InetSocketAddress(Topology.NODE_A, 15080);
            Topology.Dialer byIp = () -> Topology.socks(socks, VIP_BY_IP, port);
            Topology.Dialer byName = () -> Topology.socks(socks, VIP_BY_NAME, port);
            awaitResolved(hap, Duration.ofSeconds(10));

            Duration warm = Topology.warmup(ctx);
            Loads.connectionRate(byIp, CONCURRENCY, warm);
            Loads.connectionRate(byName, CONCURRENCY, warm);
            double settled = topo.warmUntilJitSettles(slice -> {
                Loads.connectionRate(byName, CONCURRENCY, slice.dividedBy(2));
                Loads.connectionRate(byIp, CONCURRENCY, slice.dividedBy(2));
            }, Duration.ofSeconds(ctx.quick() ? 4 : 60));

            // the paths take turns, so a burst of noise on this shared machine lands on all of them
            Topology.Dialer[] paths = {direct, hap, byIp, byName};
            double[] connections = new double[paths.length];
            double[] seconds = new double[paths.length];
            double[] cpu = new double[paths.length];
            long[] queries = new long[paths.length];
            int rounds = ctx.quick() ? 1 : 3;
            Duration segment = ctx.duration().dividedBy(rounds);
            for (int round = 0; round < rounds; round++) {
                for (int p = 0; p < paths.length; p++) {
                    Process proxy = p == 1 ? haproxy : topo.ztunnelA;
                    double cpu0 = Topology.cpuSeconds(proxy) - (p >= 2 ? Topology.jitCpuSeconds(proxy) : 0);
                    long q0 = stub.answered();
                    long t0 = System.nanoTime();
                    double rate = Loads.connectionRate(paths[p], CONCURRENCY, segment);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    connections[p] += rate * secs;
                    seconds[p] += secs;
                    cpu[p] += Topology.cpuSeconds(proxy) - (p >= 2 ? Topology.jitCpuSeconds(proxy) : 0) - cpu0;
                    queries[p] += stub.answered() - q0;
                }
            }
            String[] labels = {"direct TCP", "HAProxy hop, server by DNS name (plaintext)",
                "ztunnel (node-a), endpoint by IP", "ztunnel (node-a), endpoint by DNS name (on-demand DNS)"};
            double directRate = connections[0] / seconds[0];
            double byIpRate = connections[2] / seconds[2];
            ResultTable t = new ResultTable("path", "connections/s", "vs direct", "vs endpoint by IP",
                    "proxy CPU µs/connection", "name-server queries in its turns");
            for (int p = 0; p < paths.length; p++) {
                double rate = connections[p] / seconds[p];
                t.row(labels[p], rate, rate / directRate, p >= 2 ? rate / byIpRate : null,
                        p == 0 ? null : cpu[p] / connections[p] * 1e6, queries[p]);
            }
            t.note(CONCURRENCY + " concurrent loops, " + rounds + " turns of " + segment.toSeconds()
                    + " s per path; the ztunnel paths include the SOCKS5 exchange and leave node-a in plain TCP (the"
                    + " service is outside the mesh: no HBONE, node-b not involved). CPU is the proxy process's"
                    + " (ztunnel's without its JIT threads). The stub name server answers every A question with the"
                    + " server's address and a 60 s TTL, and AAAA with no data; ztunnel caches answers for their TTL (at"
                    + " most 60 s), HAProxy re-resolves every second whatever the connections do: its queries are"
                    + " counted in every path's turns, so ztunnel's own are the by-name path's count less the"
                    + " by-IP path's (" + String.format("%,d for %,d connections).", queries[3] - queries[2],
                            Math.round(connections[3])));
            t.note(String.format("Before the measurement both ztunnel paths ran %.0f s more, until node-a's and"
                    + " node-b's JIT compilers used under 5%% of a core (at most 60 s).", settled));
            t.note(MachineState.note());
            return t;
        }
    }

    /** Waits until HAProxy has resolved its server (it starts with none: init-addr none) and a connection goes. */
    private static void awaitResolved(Topology.Dialer hap, Duration max) throws Exception {
        long deadline = System.nanoTime() + max.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                Loads.connectionRate(hap, 1, Duration.ofMillis(200));
                return;
            } catch (java.io.IOException e) {
                last = e;
                Thread.sleep(200);
            }
        }
        throw new IllegalStateException("HAProxy never reached " + HOSTNAME + " through its resolvers", last);
    }
}
