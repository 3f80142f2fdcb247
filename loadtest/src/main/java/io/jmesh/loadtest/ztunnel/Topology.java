package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The three paths every ztunnel benchmark compares, all on loopback addresses, towards one server at
 * {@link #SERVER_IP} (a workload on node-b):
 * <ul>
 *   <li>direct TCP from the client address;
 *   <li>a two-hop HAProxy pair: plain TCP in, TLS 1.3 (AES-128-GCM) with verified client certificates between the
 *       two, plain TCP out;
 *   <li>two ztunnels (separate JVMs from the shaded jar): SOCKS5 into node-a, HBONE to node-b, TCP to the server;
 *   <li>optionally ({@link #startPlainHaproxy}) the same HAProxy pair with no TLS at all: no proxy that relays in two
 *       hops can do better on this machine, so it is the ceiling the goals are read against.
 * </ul>
 * A scenario may add nodes ({@link #networks}, {@link #extraWorkloads}, {@link #startZtunnel(Path, String, String)})
 * and an east-west gateway ({@link #startEastWestGateway}).
 */
public final class Topology implements AutoCloseable {

    static final String CLIENT_IP = "127.0.210.11";
    static final String SERVER_IP = "127.0.220.11";
    static final String NODE_A = "127.0.210.1";
    static final String NODE_B = "127.0.220.1";
    static final String HAPROXY_IN = "127.0.250.1";
    static final String HAPROXY_OUT = "127.0.250.2";
    static final String PLAIN_IN = "127.0.250.3";
    static final String PLAIN_OUT = "127.0.250.4";

    final Path dir;
    final int serverPort;
    final List<Process> processes = new ArrayList<>();
    Process ztunnelA;
    Process ztunnelB;
    private final BenchPki pki;
    private final BenchContext ctx;
    int haproxyPort;
    /** The two HAProxy processes (their CPU is the same-run baseline of ztunnel's). */
    final List<Process> haproxies = new ArrayList<>();
    /** The plaintext HAProxy pair, when started. */
    final List<Process> plainHaproxies = new ArrayList<>();
    private static final int PLAIN_PORT = 17002;

    Topology(BenchContext ctx, int serverPort) throws Exception {
        this.ctx = ctx;
        this.dir = ctx.workDir();
        this.serverPort = serverPort;
        this.pki = new BenchPki();
    }

    /** Opens a TCP connection to the server along one path. */
    public interface Dialer {
        Socket open() throws IOException;
    }

    /** How long a load generator waits for a byte before it calls the path stalled and fails the scenario. */
    public static final int STALL_TIMEOUT_MS = 10_000;

    /** A connected load-generator socket: no Nagle, and reads that fail after {@link #STALL_TIMEOUT_MS}. */
    static Socket connect(InetSocketAddress to) throws IOException {
        Socket s = new Socket();
        s.setTcpNoDelay(true);
        s.setSoTimeout(STALL_TIMEOUT_MS);
        s.connect(to, 5000);
        return s;
    }

    Dialer direct() {
        return () -> connect(new InetSocketAddress(SERVER_IP, serverPort));
    }

    Dialer haproxy() {
        return () -> connect(new InetSocketAddress(HAPROXY_IN, haproxyPort));
    }

    Dialer plainHaproxy() {
        return () -> connect(new InetSocketAddress(PLAIN_IN, PLAIN_PORT));
    }

    Dialer ztunnel() {
        return () -> socks(new InetSocketAddress(NODE_A, 15080), SERVER_IP, serverPort);
    }

    /** SOCKS5 CONNECT (no auth) from 127.0.0.1, one of the client workload's addresses. */
    static Socket socks(InetSocketAddress proxy, String ip, int port) throws IOException {
        Socket s = connect(proxy);
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        byte[] a = InetAddress.getByName(ip).getAddress();
        byte[] req = new byte[3 + 4 + 4 + 2];
        req[0] = 5;
        req[1] = 1;
        req[2] = 0;
        req[3] = 5;
        req[4] = 1;
        req[5] = 0;
        req[6] = 1;
        System.arraycopy(a, 0, req, 7, 4);
        req[11] = (byte) (port >> 8);
        req[12] = (byte) port;
        out.write(req); // greeting and CONNECT pipelined: one round trip
        byte[] reply = in.readNBytes(2 + 10);
        if (reply.length < 12 || reply[1] != 0 || reply[3] != 0) {
            s.close();
            throw new IOException("socks5 refused: " + (reply.length > 3 ? reply[3] : -1));
        }
        return s;
    }

    /** Writes the bench CA's root certificate to {@code root.pem}; returns its path. */
    private Path rootPemFile() throws IOException {
        return Files.writeString(dir.resolve("root.pem"), pki.rootPem());
    }

    void startHaproxy() throws Exception {
        Path ca = rootPemFile();
        Path clientPem = pki.writeLeafPem(dir, "hap-client", "spiffe://cluster.local/ns/default/sa/client");
        Path serverPem = pki.writeLeafPem(dir, "hap-server", "spiffe://cluster.local/ns/default/sa/server");
        haproxyPort = 17000;
        int tls = 17001;
        String common = HAPROXY_COMMON + """
                  ssl-default-bind-options ssl-min-ver TLSv1.3
                  ssl-default-server-options ssl-min-ver TLSv1.3
                  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
                  ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256
                  tune.ssl.default-dh-param 2048
                """ + HAPROXY_DEFAULTS;
        startPair(haproxies, "hap", common + """
                frontend plain_in
                  bind %s:%d
                  default_backend mtls_out
                backend mtls_out
                  server s1 %s:%d ssl crt %s ca-file %s verify required no-ssl-reuse
                """.formatted(HAPROXY_IN, haproxyPort, HAPROXY_OUT, tls, clientPem, ca), common + """
                frontend mtls_in
                  bind %s:%d ssl crt %s ca-file %s verify required
                  default_backend app
                backend app
                  server app %s:%d
                """.formatted(HAPROXY_OUT, tls, serverPem, ca, SERVER_IP, serverPort));
        waitListening(HAPROXY_IN, haproxyPort);
        waitListening(HAPROXY_OUT, tls);
    }

    /** Writes {@code <name>-in.cfg} and {@code <name>-out.cfg} and starts them, the far hop first, into {@code into}. */
    private void startPair(List<Process> into, String name, String inConfig, String outConfig) throws IOException {
        into.add(startHaproxy(name + "-out", outConfig));
        into.add(startHaproxy(name + "-in", inConfig));
    }

    /**
     * One plaintext HAProxy hop ({@code <name>.cfg}: {@code body}, its frontends, backends and any {@code resolvers}
     * section, after the pairs' global and defaults sections); it stops at {@link #close}.
     */
    Process startPlainHop(String name, String body) throws IOException {
        return startHaproxy(name, HAPROXY_COMMON + HAPROXY_DEFAULTS + body);
    }

    private Process startHaproxy(String name, String config) throws IOException {
        Path cfg = Files.writeString(dir.resolve(name + ".cfg"), config);
        // the same glibc setting as the default ztunnels, as the figures were always measured
        return start(List.of("haproxy", "-db", "-f", cfg.toString()), name, Map.of("MALLOC_ARENA_MAX",
                ZtunnelJvmFlags.mallocArenaMax(ctx, ZtunnelJvmFlags.Footprint.DEFAULT)));
    }

    private static final String HAPROXY_COMMON = """
            global
              maxconn 8000
              nbthread 2
            """;
    private static final String HAPROXY_DEFAULTS = """
            defaults
              mode tcp
              timeout connect 5s
              timeout client 60s
              timeout server 60s
            """;

    /**
     * Starts the HAProxy pair again with no TLS anywhere (same processes, threads and hops): the cost of relaying
     * through two user-space proxies alone, with no encryption, handshake or multiplexing.
     */
    void startPlainHaproxy() throws Exception {
        int middle = PLAIN_PORT + 1;
        String common = HAPROXY_COMMON + HAPROXY_DEFAULTS;
        startPair(plainHaproxies, "hap-plain", common + """
                frontend plain_in
                  bind %s:%d
                  default_backend hop
                backend hop
                  server s1 %s:%d
                """.formatted(PLAIN_IN, PLAIN_PORT, PLAIN_OUT, middle), common + """
                frontend hop_in
                  bind %s:%d
                  default_backend app
                backend app
                  server app %s:%d
                """.formatted(PLAIN_OUT, middle, SERVER_IP, serverPort));
        waitListening(PLAIN_IN, PLAIN_PORT);
        waitListening(PLAIN_OUT, middle);
    }

    void startZtunnels(Path jar) throws Exception {
        startZtunnels(jar, Boolean.getBoolean("bench.ztunnel.perEventLoop"));
    }

    /** Starts (or restarts) the two ztunnels with the chart's JVM profile {@code footprint}. */
    void startZtunnels(Path jar, ZtunnelJvmFlags.Footprint footprint) throws Exception {
        this.footprint = footprint;
        startZtunnels(jar, Boolean.getBoolean("bench.ztunnel.perEventLoop"));
    }

    private int caPort;
    private boolean perEventLoop;
    /**
     * Whether the ztunnels run as a chart deploys them, with what a static file leaves out: their configuration over
     * a TLS discovery stream ({@link BenchDiscovery}) and their connection events to a real Kafka broker
     * ({@link BenchKafka}); set before the first {@link #startZtunnels}. Off, they read the mesh file and send no
     * events (the scenarios that measure one data-path feature).
     */
    private boolean asDeployed;
    private BenchDiscovery discovery;
    private BenchKafka kafka;

    /**
     * Whether a scenario that measures what a deployed ztunnel costs (RSS, CPU) runs it as deployed:
     * {@code -Dbench.ztunnel.asDeployed=false} goes back to the static file without events, for comparison.
     */
    static boolean deployedWhereItMatters() {
        return Boolean.parseBoolean(System.getProperty("bench.ztunnel.asDeployed", "true"));
    }

    /** The ztunnels this topology starts run as deployed ({@link #asDeployed}). */
    void runAsDeployed() {
        if (caPort != 0) {
            throw new IllegalStateException("runAsDeployed: call it before the ztunnels first start");
        }
        asDeployed = true;
    }

    /** CPU seconds the events' Kafka broker has used; 0 when the ztunnels do not run as deployed. */
    double kafkaCpuSeconds() {
        return kafka == null ? 0 : kafka.cpuSeconds();
    }

    /** Events the two ztunnels' publishers had acknowledged by Kafka and had dropped, from their /metrics. */
    record EventCounts(double published, double dropped) {
        EventCounts minus(EventCounts before) {
            return new EventCounts(published - before.published, dropped - before.dropped);
        }
    }

    /** Reads both ztunnels' event counters (their admin listener, port 15020 on the node address). */
    EventCounts eventCounts() throws IOException, InterruptedException {
        double published = 0;
        double dropped = 0;
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(2)).build();
        for (String node : new String[] {NODE_A, NODE_B}) {
            String body = http.send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://" + node + ":15020/metrics")).timeout(Duration.ofSeconds(5)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            for (String line : body.split("\n")) {
                if (line.startsWith("mesh_events_published_total")) {
                    published += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                } else if (line.startsWith("mesh_events_dropped_total")) {
                    dropped += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
        }
        return new EventCounts(published, dropped);
    }

    /** Whether the ztunnels run as deployed (for a scenario's notes). */
    boolean asDeployed() {
        return asDeployed;
    }
    /** The chart's JVM profile the ztunnels start with. */
    private ZtunnelJvmFlags.Footprint footprint = ZtunnelJvmFlags.Footprint.selected();

    /**
     * YAML a scenario adds before {@link #startZtunnels}: appended to the static mesh file (e.g. a {@code services:}
     * list); empty by default.
     */
    String extraMesh = "";
    /**
     * Entries a scenario adds to the static mesh file's {@code workloads:} list before {@link #startZtunnels}, each
     * item indented by two spaces; empty by default.
     */
    String extraWorkloads = "";
    /**
     * Entries a scenario adds to every ztunnel's {@code pool:} mapping before {@link #startZtunnels}, each after a
     * comma (e.g. {@code ", maxStreamsPerConnection: 1"}); empty by default.
     */
    String extraPool = "";
    /** JVM options a scenario adds to every ztunnel it starts after this, after the chart's profile. */
    final List<String> extraJvm = new ArrayList<>();

    /**
     * How long the certificates of the bench CA (the ztunnels' workload certificates) are valid, for a scenario
     * that wants them rotated while it runs; 24 h by default. The HAProxy pairs' certificates are not affected.
     */
    void workloadCertificateValidity(Duration validity) {
        pki.caLeafValidity = validity;
    }

    /** Per node name: the node's {@code network} (Istio's NETWORK); a node not named is on the default network. */
    final Map<String, String> networks = new HashMap<>();
    /** Per node name: entries added to the node's {@code listeners:} mapping (e.g. {@code "dns: 15053"}). */
    final Map<String, String> extraListeners = new HashMap<>();
    /** Per node name: top-level YAML appended to the node's config file (e.g. {@code dns: {upstreams: [...]}}). */
    final Map<String, String> extraConfig = new HashMap<>();

    /** Starts (or restarts, stopping the previous pair) the two ztunnels. */
    void startZtunnels(Path jar, boolean perEventLoop) throws Exception {
        for (Process p : new Process[] {ztunnelA, ztunnelB}) {
            if (p != null) {
                p.destroy();
                p.waitFor(10, TimeUnit.SECONDS);
                processes.remove(p);
            }
        }
        Path mesh = dir.resolve("mesh.yaml");
        if (caPort == 0) {
            if (asDeployed) {
                discovery = new BenchDiscovery(mesh);
                kafka = BenchKafka.start(dir.resolve("kafka"));
            }
            caPort = pki.startCa(grpc -> {
                if (discovery != null) {
                    discovery.register(grpc);
                }
            });
        }
        this.perEventLoop = perEventLoop;
        Files.writeString(mesh, """
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s, 127.0.0.1],
                     node: node-a, tunnelProtocol: HBONE}
                  - {uid: server, name: server, namespace: default, serviceAccount: server, addresses: [%s],
                     node: node-b, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, SERVER_IP) + extraWorkloads + extraMesh);
        // 127.0.0.1 is the client workload's second address: the load generators do not bind a source address
        // (Java cannot set IP_BIND_ADDRESS_NO_PORT, so bound sockets would exhaust the ephemeral ports at high
        // connection rates), and proxychains4 (iperf3's way into SOCKS5) does not keep iperf3's -B address
        ztunnelA = startZtunnel(jar, "node-a", NODE_A, mesh, caPort, perEventLoop);
        ztunnelB = startZtunnel(jar, "node-b", NODE_B, mesh, caPort, perEventLoop);
        waitReady(NODE_A);
        waitReady(NODE_B);
    }

    /**
     * Starts one more ztunnel, {@code node} at {@code address}, on the pair's mesh file and CA (so after
     * {@link #startZtunnels}); it stops at {@link #close}.
     */
    Process startZtunnel(Path jar, String node, String address) throws Exception {
        if (caPort == 0) {
            throw new IllegalStateException("ztunnel " + node + ": start the pair first (its mesh file and CA)");
        }
        Process p = startZtunnel(jar, node, address, dir.resolve("mesh.yaml"), caPort, perEventLoop);
        waitReady(address);
        return p;
    }

    /**
     * Starts the east-west gateway of double HBONE (see {@link EastWestGateway}) at {@code address:port}, with a
     * certificate of its identity from the bench CA; {@code routes} maps an outer CONNECT's {@code hostname:port}
     * to the {@code ip:port} it pipes the stream to. It stops at {@link #close}.
     */
    EastWestGateway startEastWestGateway(String address, int port, Map<String, String> routes) throws Exception {
        BenchPki.LeafFiles leaf = pki.writeLeafFiles(dir, "eastwest", EastWestGateway.IDENTITY);
        List<String> cmd = EastWestGateway.command(ctx.repo(), address, port, leaf, rootPemFile(), routes);
        // Node.js as it runs by default: no MALLOC_ARENA_MAX (that is the ztunnel chart's setting)
        EastWestGateway gateway = new EastWestGateway(start(cmd, "eastwest", Map.of()), dir.resolve("eastwest.log"));
        gateway.awaitListening();
        return gateway;
    }

    private Process startZtunnel(Path jar, String node, String address, Path mesh, int caPort, boolean perEventLoop)
            throws Exception {
        Path cfg = dir.resolve(node + ".yaml");
        Path root = pki.writeRoot(dir.resolve("ca-root.pem"));
        // access logs: on as deployed (the chart's logLevel info: one JSON line per connection, as Istio's), off
        // in the scenarios that measure one data-path feature (logLevel warn)
        String base = """
                logLevel: %s
                admin: {host: %s, port: 15020}
                node: {name: %s, address: %s%s}
                listeners: {localAdmin: 0, outboundCapture: -1, inboundPlaintext: -1%s}
                pool: {perEventLoop: %s%s}
                identity: {caAddress: "127.0.0.1:%d", rootCertFile: "%s"}
                """.formatted(asDeployed ? "info" : "warn", address, node, address, networks.containsKey(node)
                        ? ", network: " + networks.get(node) : "", extraListeners.containsKey(node)
                        ? ", " + extraListeners.get(node) : "", perEventLoop, extraPool, caPort, root)
                + (discovery == null ? "discovery: {staticFile: \"%s\"}\n".formatted(mesh)
                        : "discovery: {address: \"127.0.0.1:%d\", rootCertFile: \"%s\"}\n".formatted(caPort, root))
                + (kafka == null ? "" : "kafka: {bootstrapServers: \"%s\"}\n".formatted(kafka.bootstrapServers()));
        // e.g. -Dbench.ztunnel.config="hbone: {sharedStreamWindowBytes: 0}" to compare a setting run to run; a path's
        // own settings (extraConfig) still win, so a path keeps measuring what its label says
        Files.writeString(cfg, ConfigLayers.merge(base, System.getProperty("bench.ztunnel.config", ""),
                extraConfig.getOrDefault(node, "")));
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(ZtunnelJvmFlags.of(ctx, footprint));
        cmd.addAll(extraJvm);
        // e.g. -Dbench.ztunnel.jvm="-XX:StartFlightRecording=filename=/tmp/zt.jfr" to profile a run
        String extra = System.getProperty("bench.ztunnel.jvm", "").trim();
        if (!extra.isEmpty()) {
            cmd.addAll(List.of(extra.replace("{node}", node).split("\\s+")));
        }
        cmd.addAll(List.of("-jar", jar.toString(), "--config", cfg.toString()));
        // glibc's per-thread malloc arenas are most of a small JVM's untouched RSS: the chart's value
        return start(cmd, "ztunnel-" + node,
                Map.of("MALLOC_ARENA_MAX", ZtunnelJvmFlags.mallocArenaMax(ctx, footprint)));
    }

    private Process start(List<String> cmd, String name, Map<String, String> env) throws IOException {
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve(name + ".log").toFile());
        b.environment().putAll(env);
        Process p = b.start();
        processes.add(p);
        return p;
    }

    private static void waitReady(String host) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create("http://" + host + ":15021/healthz/ready")
                        .toURL().openConnection();
                c.setConnectTimeout(500);
                if (c.getResponseCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("ztunnel on " + host + " not ready within 60 s");
    }

    static void waitListening(String host, int port) throws Exception {
        for (int i = 0; i < 100; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException(host + ":" + port + " not listening");
    }

    /** Resident set size of a process, MiB; NaN once it is gone. */
    static double rssMiB(Process p) {
        long kib = io.jmesh.loadtest.ProcStatus.rssKib(p.pid());
        return kib < 0 ? Double.NaN : kib / 1024.0;
    }

    /** CPU seconds (user + system) a process has used. */
    static double cpuSeconds(Process p) throws IOException {
        return ticks(Files.readString(Path.of("/proc/" + p.pid() + "/stat")));
    }

    /** CPU seconds both HAProxy processes have used. */
    double haproxyCpuSeconds() throws IOException {
        return cpuSeconds(haproxies);
    }

    /** CPU seconds (user + system) the processes have used together. */
    static double cpuSeconds(List<Process> ps) throws IOException {
        double sum = 0;
        for (Process p : ps) {
            sum += cpuSeconds(p);
        }
        return sum;
    }

    /**
     * CPU seconds (user + system) the JIT compiler threads of a JVM have used ({@code C1/C2 CompilerThread*}):
     * compilation inside a measured window is warm-up left over, not the cost of the steady data path.
     */
    static double jitCpuSeconds(Process p) throws IOException {
        double sum = 0;
        try (var tasks = Files.list(Path.of("/proc/" + p.pid() + "/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                try {
                    String comm = Files.readString(t.resolve("comm"));
                    if (comm.startsWith("C1 CompilerThre") || comm.startsWith("C2 CompilerThre")) {
                        sum += ticks(Files.readString(t.resolve("stat")));
                    }
                } catch (IOException e) {
                    // the thread ended
                }
            }
        }
        return sum;
    }

    /** One slice of load on a path, for {@link #warmUntilJitSettles}. */
    interface Load {
        void run(Duration slice) throws Exception;
    }

    /**
     * Drives {@code load} in 2-second slices until both ztunnels' JIT compiler threads used under 5% of a core in a
     * slice, or {@code max} has passed: on two busy cores C2 takes tens of seconds to catch up with a new workload
     * (each tier-4 compilation waits its turn behind the others), and a measurement that starts before then
     * measures the compiler too. Returns the seconds it took.
     */
    double warmUntilJitSettles(Load load, Duration max) throws Exception {
        long t0 = System.nanoTime();
        long deadline = t0 + max.toNanos();
        Duration slice = Duration.ofSeconds(2);
        while (System.nanoTime() < deadline) {
            double a0 = jitCpuSeconds(ztunnelA);
            double b0 = jitCpuSeconds(ztunnelB);
            long s0 = System.nanoTime();
            load.run(slice);
            double secs = (System.nanoTime() - s0) / 1e9;
            double jit = Math.max(jitCpuSeconds(ztunnelA) - a0, jitCpuSeconds(ztunnelB) - b0) / secs;
            if (jit < 0.05) {
                break;
            }
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    private static double ticks(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in USER_HZ (100)
    }

    @Override
    public void close() throws Exception {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        pki.close();
        if (kafka != null) {
            kafka.close();
        }
        if (discovery != null && !discovery.nacks.isEmpty()) {
            throw new IllegalStateException("the ztunnels rejected the benchmark's discovery: " + discovery.nacks);
        }
    }

    static Duration warmup(BenchContext ctx) {
        return ctx.quick() ? Duration.ofSeconds(2) : Duration.ofSeconds(8);
    }
}
