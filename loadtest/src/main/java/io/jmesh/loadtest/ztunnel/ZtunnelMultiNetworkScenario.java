package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * Double HBONE (Istio's multi-network path) against single HBONE and direct TCP, in one run: iperf3 (one stream) and
 * 1 KiB request/response at a fixed 1,000 req/s over 10 connections, from the client on node-a along three paths:
 * <ul>
 *   <li>direct TCP to the server;
 *   <li>one network: SOCKS5 into node-a, HBONE to node-b (both on the default network), TCP to the server;
 *   <li>two networks: SOCKS5 into node-a to the VIP of a service whose endpoint is on node-c, on network
 *       {@value #NETWORK}: an outer HBONE tunnel to that network's east-west gateway ({@link EastWestGateway}),
 *       inside its stream a second mTLS handshake and CONNECT to node-c, TCP to the remote server.
 * </ul>
 * node-a serves both ztunnel paths. Every application connection of the last path must show up at the gateway, or
 * the scenario fails.
 */
public final class ZtunnelMultiNetworkScenario implements Scenario {

    static final String NETWORK = "net-b";
    static final String NODE_C = "127.0.230.1";
    static final String REMOTE_IP = "127.0.230.11";
    static final String GATEWAY_IP = "127.0.230.100";
    /** The remote service's VIP: only named in SOCKS5 requests, never dialled (a loopback address all the same). */
    static final String VIP = "127.0.240.20";
    static final String HOST = "remote.default.svc.cluster.local";
    static final int ECHO_SERVICE_PORT = 80;
    static final int IPERF_PORT = 15201;
    static final int HBONE_PORT = 15008;

    @Override
    public String name() {
        return "ztunnel-multinetwork";
    }

    @Override
    public String description() {
        return "double HBONE through an east-west gateway vs single HBONE vs direct TCP: iperf3 and 1 KiB at "
                + "1,000 req/s, with the CPU of each ztunnel and of the gateway";
    }

    /** One path, the processes it runs through, and what was measured on it. */
    private static final class Route {
        final String label;
        final Topology.Dialer dialer;
        final List<String> iperfPrefix;
        final String iperfHost;
        /** node-a, the destination ztunnel and the gateway; null where the path has none. */
        final Process[] processes;
        double bitsPerSecond;
        final double[] iperfCpu = new double[3];
        final Histogram latency = new Histogram(60_000_000L, 3);
        final double[] latencyCpu = new double[3];
        double latencySeconds;

        Route(String label, Topology.Dialer dialer, List<String> iperfPrefix, String iperfHost, Process... processes) {
            this.label = label;
            this.dialer = dialer;
            this.iperfPrefix = iperfPrefix;
            this.iperfHost = iperfHost;
            this.processes = processes;
        }

        boolean proxied() {
            return processes[0] != null;
        }

        double[] cpuSeconds() throws IOException {
            double[] v = new double[processes.length];
            for (int i = 0; i < v.length; i++) {
                v[i] = processes[i] == null ? 0 : Topology.cpuSeconds(processes[i]);
            }
            return v;
        }

        /** {@code sum += cpuSeconds() - before}, per process. */
        void addCpuSince(double[] before, double[] sum) throws IOException {
            double[] now = cpuSeconds();
            for (int i = 0; i < sum.length; i++) {
                sum[i] += now[i] - before[i];
            }
        }

        /** The figure of process {@code i}, or null (an empty cell) where the path has no such process. */
        Double cell(int i, double value) {
            return processes[i] == null ? null : value;
        }
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Loads.Echo remoteEcho = new Loads.Echo(REMOTE_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            startIperfServer(ctx, topo, Topology.SERVER_IP);
            startIperfServer(ctx, topo, REMOTE_IP);
            topo.extraWorkloads = remoteWorkloads(remoteEcho.port());
            topo.extraMesh = remoteService(remoteEcho.port());
            topo.networks.put("node-c", NETWORK);
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Process nodeC = topo.startZtunnel(ctx.serviceJar("ztunnel"), "node-c", NODE_C);
            String hbone = REMOTE_IP + ":" + HBONE_PORT;
            EastWestGateway gateway = topo.startEastWestGateway(GATEWAY_IP, HBONE_PORT,
                    Map.of(HOST + ":" + ECHO_SERVICE_PORT, hbone, HOST + ":" + IPERF_PORT, hbone));

            AtomicLong doubleHboneConnections = new AtomicLong();
            Topology.Dialer viaGateway = () -> {
                doubleHboneConnections.incrementAndGet();
                return Topology.socks(new InetSocketAddress(Topology.NODE_A, 15080), VIP, ECHO_SERVICE_PORT);
            };
            List<String> viaNodeA = ZtunnelThroughputScenario.viaNodeA(ctx);
            Route direct = new Route("direct TCP", topo.direct(), List.of(), Topology.SERVER_IP, null, null, null);
            Route single = new Route("two ztunnels, one network (HBONE)", topo.ztunnel(), viaNodeA,
                    Topology.SERVER_IP, topo.ztunnelA, topo.ztunnelB, null);
            Route twice = new Route("two ztunnels, two networks, through the east-west gateway (double HBONE)",
                    viaGateway, viaNodeA, VIP, topo.ztunnelA, nodeC, gateway.process);
            List<Route> routes = List.of(direct, single, twice);

            int secs = (int) Math.max(3, ctx.duration().toSeconds());
            int warm = (int) Topology.warmup(ctx).toSeconds();
            for (Route r : routes) {
                String tag = r == direct ? "direct" : r == single ? "one-network" : "two-networks";
                if (r.proxied()) { // each ztunnel path warmed (JIT) right before its own run
                    ZtunnelThroughputScenario.iperf(ctx, r.iperfPrefix, r.iperfHost, IPERF_PORT, warm,
                            "warmup-" + tag);
                }
                long through0 = gateway.connects(HOST + ":" + IPERF_PORT);
                double[] cpu0 = r.cpuSeconds();
                r.bitsPerSecond = ZtunnelThroughputScenario.iperf(ctx, r.iperfPrefix, r.iperfHost, IPERF_PORT, secs,
                        tag);
                r.addCpuSince(cpu0, r.iperfCpu);
                if (r == twice) {
                    // iperf3's control connection and its data stream
                    expectThroughGateway(IPERF_PORT, gateway.connects(HOST + ":" + IPERF_PORT) - through0, 2);
                }
            }

            Duration warmLatency = Topology.warmup(ctx).plusSeconds(ctx.quick() ? 0 : 4);
            ZtunnelLatencyScenario.warmUp(single.dialer, warmLatency);
            ZtunnelLatencyScenario.warmUp(twice.dialer, warmLatency);
            Duration segment = ctx.duration().dividedBy(ZtunnelLatencyScenario.ROUNDS);
            // the paths take turns: a burst of noise on this shared machine then lands on all of them
            for (int round = 0; round < ZtunnelLatencyScenario.ROUNDS; round++) {
                for (Route r : routes) {
                    // traffic on the path right before its segment: JDK 17 flushes compiled code that goes cold
                    fixedRate(r, Duration.ofSeconds(r.proxied() ? 2 : 1));
                    double[] cpu0 = r.cpuSeconds();
                    long t0 = System.nanoTime();
                    r.latency.add(fixedRate(r, segment));
                    r.latencySeconds += (System.nanoTime() - t0) / 1e9;
                    r.addCpuSince(cpu0, r.latencyCpu);
                }
            }
            long echoConnects = gateway.connects(HOST + ":" + ECHO_SERVICE_PORT);
            expectThroughGateway(ECHO_SERVICE_PORT, echoConnects, doubleHboneConnections.get());

            ResultTable t = new ResultTable("path", "iperf3 Gbit/s", "vs direct", "p50 ms", "p90 ms", "p99 ms",
                    "added p99 ms vs direct", "node-a CPU s/GB", "destination ztunnel CPU s/GB", "gateway CPU s/GB",
                    "node-a % of a core", "destination ztunnel % of a core", "gateway % of a core");
            for (Route r : routes) {
                double gigabytes = r.bitsPerSecond * secs / 8e9;
                Object[] row = new Object[13];
                row[0] = r.label;
                row[1] = r.bitsPerSecond / 1e9;
                row[2] = r.bitsPerSecond / direct.bitsPerSecond;
                row[3] = ms(r.latency.getValueAtPercentile(50));
                row[4] = ms(r.latency.getValueAtPercentile(90));
                row[5] = ms(r.latency.getValueAtPercentile(99));
                row[6] = ms(r.latency.getValueAtPercentile(99)) - ms(direct.latency.getValueAtPercentile(99));
                for (int i = 0; i < 3; i++) {
                    row[7 + i] = r.cell(i, r.iperfCpu[i] / gigabytes);
                    row[10 + i] = r.cell(i, 100 * r.latencyCpu[i] / r.latencySeconds);
                }
                t.row(row);
            }
            t.note("The east-west gateway is Node.js's http2 module (" + EastWestGateway.SCRIPT + ", ztunnel's "
                    + "interop test peer, Node.js " + nodeVersion() + "): an independent HBONE implementation, not a "
                    + "production gateway (Istio's is Envoy). One single-threaded process with Node's default HTTP/2 "
                    + "settings terminates the outer mTLS and HTTP/2 and pipes each stream to node-c's 15008 with "
                    + "stream.pipe; it also keeps each stream's last 4 KiB to look for a marker in the clear (its "
                    + "test's check). It bounds the double-HBONE path: these figures say what this gateway allows, "
                    + "not what double HBONE costs behind a production gateway.");
            t.note("The double-HBONE path does two TLS handshakes per new connection (node-a to the gateway, pooled "
                    + "and shared by later connections, and node-a to node-c inside it, one per application "
                    + "connection, as in Istio) and TLS inside TLS per byte: node-a encrypts every byte twice, the "
                    + "gateway removes the outer layer, node-c the inner one. Both loads here keep their connections "
                    + "open, so the figures carry the per-byte cost, not the handshakes.");
            t.note("Three ztunnel JVMs from the shaded jar (" + ZtunnelJvmFlags.quoted(ctx)
                    + "): node-a and node-b on the default network, "
                    + "node-c on " + NETWORK + " (`node.network`). One network: the client dials the server's pod "
                    + "address through node-a, HBONE to node-b. Two networks: it dials the VIP of `" + HOST + "`, "
                    + "whose one endpoint is on node-c and names " + NETWORK + "'s gateway (`network_gateway`, "
                    + GATEWAY_IP + ":" + HBONE_PORT + "); the gateway routes the outer CONNECT's `" + HOST + ":port` "
                    + "to the endpoint's " + HBONE_PORT + ". The destination ztunnel is node-b for one network, "
                    + "node-c for two; node-a serves both. The gateway's log had " + echoConnects + " CONNECTs for "
                    + "the echo service, one for each of the " + doubleHboneConnections.get() + " connections the "
                    + "latency load opened on that path (the scenario fails on fewer); every response came back.");
            t.note("iperf3: one stream, " + secs + " s per path, each ztunnel path warmed by " + warm + " s of "
                    + "iperf3 right before its run; CPU s/GB is the process's user + system CPU over its run per GB "
                    + "carried. Latency: each ztunnel path warmed as in ztunnel-latency (" + warmLatency.toSeconds()
                    + " s at 5x the rate), then the paths take turns in " + ZtunnelLatencyScenario.ROUNDS
                    + " rounds of " + segment.toSeconds() + " s, each right after traffic on its own path; measured "
                    + "from each request's intended send time (coordinated-omission safe), the schedule starting once "
                    + "the 10 connections are open; % of a core over the segments, their connection setups included "
                    + "(at 1,000 req/s, also per 1,000 req/s). Loads, servers, ztunnels and the gateway share this "
                    + "machine's CPUs.");
            t.note(MachineState.note());
            return t;
        }
    }

    private static Histogram fixedRate(Route r, Duration d) throws Exception {
        return Loads.fixedRate(r.dialer, ZtunnelLatencyScenario.CONNECTIONS, ZtunnelLatencyScenario.RATE,
                ZtunnelLatencyScenario.SIZE, d);
    }

    /** The remote server (node-c, {@value #NETWORK}, behind its gateway) and the gateway itself, as workloads. */
    private static String remoteWorkloads(int echoPort) {
        return """
                  - uid: remote
                    name: remote
                    namespace: default
                    serviceAccount: remote
                    addresses: [%1$s]
                    node: node-c
                    network: %2$s
                    tunnelProtocol: HBONE
                    networkGateway: {address: {network: %2$s, address: %3$s}, hboneMtlsPort: %4$d}
                    services: {"default/%5$s": {ports: [%6$s]}}
                  - {uid: eastwest, name: eastwest, namespace: istio-system, serviceAccount: istio-eastwestgateway,
                     addresses: [%3$s], node: node-gw, network: %2$s, tunnelProtocol: HBONE}
                """.formatted(REMOTE_IP, NETWORK, GATEWAY_IP, HBONE_PORT, HOST, servicePorts(echoPort));
    }

    private static String remoteService(int echoPort) {
        return """
                services:
                  - {name: remote, namespace: default, hostname: %s, addresses: [{address: %s}],
                     ports: [%s]}
                """.formatted(HOST, VIP, servicePorts(echoPort));
    }

    private static String servicePorts(int echoPort) {
        return "{servicePort: %d, targetPort: %d}, {servicePort: %d, targetPort: %d}"
                .formatted(ECHO_SERVICE_PORT, echoPort, IPERF_PORT, IPERF_PORT);
    }

    private static void startIperfServer(BenchContext ctx, Topology topo, String ip) throws IOException {
        topo.processes.add(new ProcessBuilder("iperf3", "-s", "-B", ip, "-p", String.valueOf(IPERF_PORT))
                .redirectErrorStream(true).redirectOutput(ctx.workDir().resolve("iperf3-server-" + ip + ".log")
                        .toFile()).start());
    }

    /** Fails unless the gateway saw at least {@code expected} CONNECTs for the service port: the path went past it. */
    private static void expectThroughGateway(int port, long seen, long expected) {
        if (seen < expected) {
            throw new IllegalStateException("the double-HBONE path did not go through the east-west gateway: it "
                    + "saw " + seen + " CONNECTs for " + HOST + ":" + port + " (expected at least " + expected + ")");
        }
    }

    private static String nodeVersion() throws Exception {
        Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
        String v = new String(p.getInputStream().readAllBytes()).trim();
        p.waitFor(10, TimeUnit.SECONDS);
        return v;
    }

    private static double ms(long micros) {
        return micros / 1000.0;
    }
}
