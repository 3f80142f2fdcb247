package io.jmesh.loadtest.mesh;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.Metrics;
import io.jmesh.loadtest.ProcessWatch;
import io.jmesh.loadtest.ProcessWatch.Sample;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import io.jmesh.loadtest.ztunnel.MachineState;
import io.jmesh.loadtest.ztunnel.SoakLoad;
import io.jmesh.loadtest.ztunnel.Topology;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * {@code mesh-soak}: the whole local mesh of {@code make run} (Kafka, ca, policy, telemetry, waypoint-mgr, two
 * ztunnels, the demo applications, each its own process) for minutes under {@link SoakLoad}'s mixed load from
 * {@code sleep} (node-a) to {@code echo} (node-b) over SOCKS5 and HBONE, while workloads come and go: every churn
 * interval a manifest of new workloads (new service accounts, so new certificates from ca) with an authorization
 * policy is written into policy's manifest directory, or removed. It samples every process's memory, descriptors and
 * threads, reads each JVM's heap after a full collection before and after, counts failures, certificate fetches,
 * the connections telemetry counted against those ztunnel reported, whether both ztunnels end up holding what the
 * churn left, and the warning and error lines each component and the Kafka broker logged during the run.
 * {@code -Dbench.soak.minutes} (5 by default; 40 s with {@code --quick}).
 *
 * <p>{@code mesh-restarts} is the same run with the Kafka broker and the control plane restarted one process at a
 * time ({@link Restarter}; {@code -Dbench.restarts=ca,policy,...} chooses which, {@code -Dbench.restarts.kill=true}
 * crashes them with SIGKILL instead of stopping them with SIGTERM): the data plane must not notice.
 */
public final class MeshSoakScenario implements Scenario {

    private static final int WINDOWS = 5;
    /** New workloads per churn cycle, half of them on each node. */
    static final int CHURN_WORKLOADS = 4;
    static final String CHURN_FILE = "90-soak-churn.yaml";
    private static final InetSocketAddress SOCKS_A = new InetSocketAddress("127.0.10.1", 15080);
    private static final String SLEEP = "127.0.10.12";
    private static final String ECHO = "127.0.20.12";
    private static final int ECHO_PORT = 9000;
    private static final Pattern STARTED = Pattern.compile("started (\\S+)\\s+pid (\\d+)");
    /** The broker's log lines (kafka-local's logback pattern) at WARN or ERROR. */
    private static final Pattern BROKER_WARNING = Pattern.compile("^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} (WARN|ERROR)");
    /** What {@code mesh-restarts} restarts, in this order ({@code -Dbench.restarts} to choose). */
    static final String DEFAULT_RESTARTS = "ca,policy,telemetry,waypoint-mgr,kafka";

    private final boolean restarts;

    /** {@code mesh-soak}. */
    public MeshSoakScenario() {
        this(false);
    }

    /** {@code mesh-restarts} when {@code restarts}: the same run, with the control plane restarted one by one. */
    public MeshSoakScenario(boolean restarts) {
        this.restarts = restarts;
    }

    @Override
    public String name() {
        return restarts ? "mesh-restarts" : "mesh-soak";
    }

    @Override
    public String description() {
        return restarts
                ? "the whole local mesh under mesh-soak's load and churn while the Kafka broker and every "
                        + "control-plane service (ca, policy, telemetry, waypoint-mgr) is restarted in turn: no tunnel "
                        + "may fail, every change must still reach both ztunnels and telemetry must still count every "
                        + "connection"
                : "stability of the whole local mesh (Kafka, ca, policy, telemetry, waypoint-mgr, two ztunnels) under "
                        + "minutes of mixed load while workloads and policies come and go: memory, descriptors, "
                        + "threads, heap and failures of every process";
    }

    /** A watched process; {@code metrics} is its {@code /metrics} URL, or null (no jmesh service). */
    record Watched(String name, long pid, String metrics) {}

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        SoakLoad.Timing timing = SoakLoad.Timing.of(ctx);
        Duration soak = timing.length();
        Duration every = timing.sampleEvery();
        Duration bulkEvery = timing.bulkEvery();
        Duration churnEvery = ctx.quick() ? Duration.ofSeconds(5) : Duration.ofSeconds(10);
        Path work = ctx.workDir().resolve("mesh-soak");
        deleteTree(work);
        Path manifests = Files.createDirectories(work.resolve("manifests"));
        try (Stream<Path> demo = Files.list(ctx.repo().resolve("demo/manifests"))) {
            for (Path m : demo.toList()) {
                Files.copy(m, manifests.resolve(m.getFileName()));
            }
        }
        Path launcherLog = work.resolve("local-mesh.log");
        Restarter restarter = new Restarter(Boolean.getBoolean("bench.restarts.kill"));
        Process mesh = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", launcherClassPath(ctx.repo()), "io.jmesh.localmesh.LocalMesh",
                "--repo", ctx.repo().toString(), "--state-dir", work.resolve("state").toString(),
                "--manifests", manifests.toString())
                .redirectErrorStream(true).redirectOutput(launcherLog.toFile()).start();
        try {
            Map<String, Long> pids = awaitReady(mesh, launcherLog);
            long broker = mesh.descendants().mapToLong(ProcessHandle::pid)
                    .filter(pid -> commandLine(pid).contains("KafkaBrokerMain")).findFirst().orElse(-1);
            if (broker > 0) {
                pids.put("kafka", broker);
            }
            List<Watched> watched = watched(mesh.pid(), pids);
            Topology.Dialer sleepToEcho = () -> socks(SOCKS_A, SLEEP, ECHO, ECHO_PORT);
            // warm-up: every part of the load once through, so the soak's first fifth is not the JIT's
            SoakLoad warm = new SoakLoad("warm-up", sleepToEcho, ctx.quick() ? Duration.ofSeconds(8)
                    : Duration.ofSeconds(20), 1, Duration.ofSeconds(4));
            warm.start();
            warm.await();

            Map<String, Map<String, Long>> threadsBefore = new LinkedHashMap<>();
            Map<String, Double> heapBefore = new LinkedHashMap<>();
            for (Watched w : watched) {
                if (w.metrics != null) {
                    heapBefore.put(w.name, ProcessWatch.heapAfterFullGcMiB(w.pid, w.metrics));
                }
                // after jcmd, whose attach starts a thread in the JVM it talks to
                threadsBefore.put(w.name, ProcessWatch.threadNames(w.pid));
            }
            Map<String, Metrics> metricsBefore = scrapeAll(watched);
            Path logs = work.resolve("state/logs");
            Path brokerLog = work.resolve("state/kafka/broker.log");
            Map<Path, Long> logSizes = logSizes(logs, brokerLog);

            SoakLoad load = new SoakLoad("mesh", sleepToEcho, soak, WINDOWS, bulkEvery);
            Churn churn = new Churn(manifests, churnEvery);
            long t0 = System.nanoTime();
            long end = t0 + soak.toNanos();
            load.start();
            Thread churner = new Thread(() -> churn.run(end), "mesh-soak-churn");
            churner.start();
            Map<String, Long> pidsByName = new java.util.concurrent.ConcurrentHashMap<>();
            watched.forEach(w -> pidsByName.put(w.name, w.pid));
            List<Restarter.Outcome> restarted = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Restarter.Target> targets = restartTargets(work);
            Thread restarting = new Thread(() -> restartInTurn(restarter, targets, pidsByName, t0, soak, restarted),
                    "mesh-soak-restarts");
            restarting.start();
            Map<String, List<Sample>> samples = ProcessWatch.sampleUntil(pidsByName, t0, end, every);
            SoakLoad.Figures f = load.await();
            churner.join(churnEvery.toMillis() * 3);
            restarting.join(TimeUnit.MINUTES.toMillis(4));
            // from here on the restarted processes are watched under their new pids
            watched = watched.stream().map(w -> new Watched(w.name, pidsByName.get(w.name), w.metrics)).toList();
            List<String> problems = new ArrayList<>();

            Thread.sleep(10_000); // the last sockets close on every hop; telemetry consumes the last events
            String configState = churnReached(churn.present(), problems);
            Map<String, Sample> after = new LinkedHashMap<>();
            Map<String, Double> heapAfter = new LinkedHashMap<>();
            for (Watched w : watched) {
                after.put(w.name, ProcessWatch.sample(w.pid, (System.nanoTime() - t0) / 1e9));
            }
            Map<String, Metrics> metricsAfter = scrapeAll(watched);
            for (Watched w : watched) {
                if (w.metrics != null) {
                    heapAfter.put(w.name, ProcessWatch.heapAfterFullGcMiB(w.pid, w.metrics));
                }
            }

            ResultTable t = ProcessWatch.table();
            StringBuilder threads = new StringBuilder();
            java.util.Set<String> restartedNames = new java.util.HashSet<>();
            restarted.forEach(r -> restartedNames.add(r.name()));
            for (Watched w : watched) {
                ProcessWatch.row(t, restartedNames.contains(w.name) ? w.name + " (restarted)" : w.name,
                        samples.get(w.name), after.get(w.name), heapBefore.get(w.name), heapAfter.get(w.name));
                if (restartedNames.contains(w.name)) {
                    continue; // its threads before were another process's
                }
                String grown = ProcessWatch.grownThreads(threadsBefore.get(w.name),
                        ProcessWatch.threadNames(w.pid));
                if (!grown.isEmpty()) {
                    threads.append(threads.length() == 0 ? "" : "; ").append(w.name).append(" ").append(grown);
                }
            }
            t.note(String.format("%d s of load from sleep (node-a) to echo (node-b) through SOCKS5 and HBONE: %d "
                    + "req/s of 1 KiB over %d persistent connections, %d new connections a second (64-byte round "
                    + "trip each), and every %d s a %d MiB transfer echoed back and ended by a half-close. Every %d "
                    + "s policy's manifest directory gained %d new workloads (new service accounts, half on each "
                    + "node) and an authorization policy, or lost them again: %d changes written. Samples every "
                    + "%d s; every component runs as make run starts it (-XX:+UseSerialGC -Xmx256m each).",
                    soak.toSeconds(), SoakLoad.STEADY_RATE, SoakLoad.STEADY_CONNECTIONS,
                    SoakLoad.CHURN_RATE, bulkEvery.toSeconds(), SoakLoad.BULK_BYTES >> 20, churnEvery.toSeconds(),
                    CHURN_WORKLOADS, churn.written.get(), every.toSeconds()));
            t.note(f.summary("Load"));
            if (restarts) {
                t.note("Restarts (" + restarter.signal() + ", then the same command line started again once the old "
                        + "process exited; one at a time, spread over the run): " + (restarted.isEmpty() ? "none"
                        : String.join("; ", restarted.stream().map(Restarter.Outcome::describe).toList())) + ".");
                restarted.stream().filter(r -> r.error() != null).forEach(r -> problems.add("restart of "
                        + r.describe()));
                if (restarted.size() < restartNames().size()) {
                    problems.add("only " + restarted.size() + " of " + restartNames().size() + " restarts ran");
                }
            }
            if (f.requestFailures() + f.connectionFailures() + f.bulkFailures() > 0) {
                problems.add("load: failures (" + String.join(" | ", f.firstErrors()) + ")");
            }
            t.note("Threads started during the run and still there after it: "
                    + (threads.length() == 0 ? "none" : threads) + " (Vert.x's worker pool, 20 threads for the "
                    + "control plane's services, starts a thread per blocking task until it has them all).");
            t.note(identities(watched, metricsBefore, metricsAfter, problems));
            t.note(telemetryCount(watched, metricsBefore, metricsAfter, problems));
            t.note(configState);
            t.note(logLines(logs, brokerLog, logSizes, restarted, problems));
            t.note(problems.isEmpty() ? "Problems found: none." : "Problems found: " + String.join("; ", problems)
                    + ".");
            t.note(MachineState.note());
            return t;
        } finally {
            // restarted services stop first, while the broker is still there; a restarted broker last
            restarter.stop(name -> !name.equals("kafka"));
            stop(mesh);
            restarter.close();
        }
    }

    /** The processes {@code mesh-restarts} restarts, in order; none for {@code mesh-soak}. */
    private List<String> restartNames() {
        if (!restarts) {
            return List.of();
        }
        return java.util.Arrays.stream(System.getProperty("bench.restarts", DEFAULT_RESTARTS).split(","))
                .map(String::strip).filter(n -> !n.isEmpty()).toList();
    }

    /** How each restartable process is restarted and found ready again. */
    private List<Restarter.Target> restartTargets(Path work) {
        Path logs = work.resolve("state/logs");
        Map<String, String> admin = Map.of("ca", "127.0.1.1", "policy", "127.0.1.2", "telemetry", "127.0.1.3",
                "waypoint-mgr", "127.0.1.4");
        List<Restarter.Target> targets = new ArrayList<>();
        for (String name : restartNames()) {
            if (name.equals("kafka")) {
                Path stdout = work.resolve("kafka-restarted.out");
                targets.add(new Restarter.Target(name, Restarter.printed(stdout,
                        io.jmesh.kafkalocal.LocalKafka.READY_PREFIX), work.resolve("state/kafka/broker.log"), stdout));
            } else if (admin.containsKey(name)) {
                targets.add(new Restarter.Target(name, Restarter.http("http://" + admin.get(name)
                        + ":15014/healthz/ready"), logs.resolve(name + ".log"), null));
            } else {
                throw new IllegalArgumentException("bench.restarts: cannot restart " + name + " (one of "
                        + DEFAULT_RESTARTS + ")");
            }
        }
        return targets;
    }

    /**
     * Restarts {@code targets} one after the other, the i-th of n at (i+1)/(n+1) of the run, each only once the one
     * before is ready again.
     */
    private static void restartInTurn(Restarter restarter, List<Restarter.Target> targets, Map<String, Long> pids,
            long t0, Duration soak, List<Restarter.Outcome> outcomes) {
        for (int i = 0; i < targets.size(); i++) {
            long at = t0 + soak.toNanos() * (i + 1) / (targets.size() + 1);
            try {
                TimeUnit.NANOSECONDS.sleep(Math.max(0, at - System.nanoTime()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            outcomes.add(restarter.restart(targets.get(i), pids, t0));
        }
    }

    /** What {@code make run} runs the launcher with (the Makefile's {@code LOCAL_MESH_CP}): JDK classes only. */
    private static String launcherClassPath(Path repo) {
        Path classes = repo.resolve("tools/local-mesh/target/classes");
        if (!Files.isDirectory(classes)) {
            throw new IllegalStateException(classes + " is missing: build first (make bench does)");
        }
        return classes + java.io.File.pathSeparator + repo.resolve("tools/kafka-local/target/classes");
    }

    /** Waits for the launcher's "mesh ready"; the pids it started, by component name. */
    private static Map<String, Long> awaitReady(Process mesh, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
        while (System.nanoTime() < deadline) {
            String out = Files.exists(log) ? Files.readString(log) : "";
            if (out.contains("mesh ready")) {
                Map<String, Long> pids = new LinkedHashMap<>();
                Matcher m = STARTED.matcher(out);
                while (m.find()) {
                    pids.put(m.group(1), Long.parseLong(m.group(2)));
                }
                return pids;
            }
            if (!mesh.isAlive()) {
                throw new IllegalStateException("the local mesh exited (" + mesh.exitValue() + ") before it was "
                        + "ready; see " + log);
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("the local mesh was not ready within 240 s; see " + log);
    }

    /** A process's command line from /proc (ProcessHandle's leaves out a long one); empty once it is gone. */
    private static String commandLine(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"));
        } catch (IOException e) {
            return "";
        }
    }

    /** The launcher, then every component (the Kafka broker too) with its metrics URL where it has one. */
    static List<Watched> watched(long launcher, Map<String, Long> pids) {
        Map<String, String> metrics = Map.of("ca", "127.0.1.1:15014", "policy", "127.0.1.2:15014",
                "telemetry", "127.0.1.3:15014", "waypoint-mgr", "127.0.1.4:15014",
                "ztunnel-node-a", "127.0.10.1:15020", "ztunnel-node-b", "127.0.20.1:15020");
        List<Watched> list = new ArrayList<>();
        list.add(new Watched("make run launcher", launcher, null));
        pids.forEach((name, pid) -> list.add(new Watched(name, pid,
                metrics.containsKey(name) ? "http://" + metrics.get(name) + "/metrics" : null)));
        return list;
    }

    private static Map<String, Metrics> scrapeAll(List<Watched> watched) throws Exception {
        Map<String, Metrics> m = new LinkedHashMap<>();
        for (Watched w : watched) {
            if (w.metrics != null) {
                m.put(w.name, Metrics.scrape(w.metrics));
            }
        }
        return m;
    }

    /** SOCKS5 to node-a's ztunnel from {@code from} (the source workload's address), CONNECT to {@code ip:port}. */
    static Socket socks(InetSocketAddress proxy, String from, String ip, int port) throws IOException {
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.setSoTimeout(Topology.STALL_TIMEOUT_MS);
            s.bind(new InetSocketAddress(from, 0));
            s.connect(proxy, 5000);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            byte[] a = InetAddress.getByName(ip).getAddress();
            // greeting (no authentication) and CONNECT pipelined: one round trip
            out.write(new byte[] {5, 1, 0, 5, 1, 0, 1, a[0], a[1], a[2], a[3], (byte) (port >> 8), (byte) port});
            byte[] reply = in.readNBytes(2 + 10);
            if (reply.length < 12 || reply[1] != 0 || reply[3] != 0) {
                throw new IOException("socks5 refused: " + (reply.length > 3 ? reply[3] : -1));
            }
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    /** Writes and removes the churn manifest in turn until {@code end}. */
    static final class Churn {
        private final Path manifests;
        private final Duration every;
        final AtomicInteger written = new AtomicInteger();
        /** The cycle whose manifest is in the directory now; -1 when none is. */
        private volatile int present = -1;

        int present() {
            return present;
        }

        Churn(Path manifests, Duration every) {
            this.manifests = manifests;
            this.every = every;
        }

        void run(long end) {
            Path file = manifests.resolve(CHURN_FILE);
            for (int cycle = 0; System.nanoTime() + every.toNanos() < end; cycle++) {
                try {
                    TimeUnit.NANOSECONDS.sleep(every.toNanos());
                    if (cycle % 2 == 0) {
                        // written aside and moved in whole: policy must never read half a file
                        Path tmp = manifests.resolveSibling(CHURN_FILE + ".tmp");
                        Files.writeString(tmp, manifest(cycle));
                        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                        present = cycle;
                    } else {
                        Files.deleteIfExists(file);
                        present = -1;
                    }
                    written.incrementAndGet();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (IOException e) {
                    throw new IllegalStateException("churn manifest: " + e.getMessage(), e);
                }
            }
        }
    }

    /**
     * {@link #CHURN_WORKLOADS} WorkloadEntries named and with service accounts of their own for {@code cycle},
     * alternately on node-a and node-b, and an ALLOW policy letting sleep reach them.
     */
    static String manifest(int cycle) {
        StringBuilder y = new StringBuilder("# mesh-soak churn, cycle " + cycle + "\n");
        for (int i = 0; i < CHURN_WORKLOADS; i++) {
            String name = "soak-" + cycle + "-" + i;
            boolean a = i % 2 == 0;
            y.append("""
                    apiVersion: networking.istio.io/v1
                    kind: WorkloadEntry
                    metadata:
                      name: %1$s
                      namespace: default
                      labels: {app: soak-%2$d}
                    spec:
                      address: 127.0.%3$d.%4$d
                      serviceAccount: %1$s
                      node: %5$s
                      labels: {app: soak-%2$d}
                    ---
                    """.formatted(name, cycle, a ? 31 : 32, 10 + (cycle * CHURN_WORKLOADS + i) % 240,
                    a ? "node-a" : "node-b"));
        }
        y.append("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: soak-%1$d
                  namespace: default
                spec:
                  selector:
                    matchLabels: {app: soak-%1$d}
                  action: ALLOW
                  rules:
                    - from:
                        - source:
                            principals: ["cluster.local/ns/default/sa/sleep"]
                """.formatted(cycle));
        return y.toString();
    }

    /** Certificates each ztunnel fetched during the run (new workloads' and renewals), and the failed fetches. */
    private static String identities(List<Watched> watched, Map<String, Metrics> before, Map<String, Metrics> after,
            List<String> problems) {
        StringBuilder note = new StringBuilder("Identities:");
        for (Watched w : watched) {
            if (!w.name.startsWith("ztunnel")) {
                continue;
            }
            double fetched = after.get(w.name).sum("ztunnel_certificate_fetches_total", "outcome=\"success\"")
                    - before.get(w.name).sum("ztunnel_certificate_fetches_total", "outcome=\"success\"");
            double failed = after.get(w.name).sum("ztunnel_certificate_fetches_total", "outcome=\"failure\"")
                    - before.get(w.name).sum("ztunnel_certificate_fetches_total", "outcome=\"failure\"");
            double open = after.get(w.name).sum("istio_tcp_sockets_open", "");
            note.append(String.format(" %s fetched %.0f certificates during the run (%.0f fetches failed) and "
                    + "counted %.0f sockets open after it;", w.name, fetched, failed, open));
            if (fetched < 1) {
                problems.add(w.name + ": no certificate fetched for the new workloads");
            }
            if (open > 0) {
                problems.add(w.name + ": " + (long) open + " sockets still counted open after the load");
            }
        }
        return note.substring(0, note.length() - 1) + ".";
    }

    /** Each node's local admin, where its {@code /config_dump} is. */
    private static final Map<String, String> CONFIG_DUMPS = Map.of("node-a", "http://127.0.0.1:15000/config_dump",
            "node-b", "http://127.0.0.1:15100/config_dump");

    /**
     * Whether both ztunnels hold exactly what the churn left in policy's manifest directory ({@code cycle}, or none:
     * -1): its workloads, its policy, and a certificate for each of the node's own churn workloads. Waits up to 30 s.
     */
    private static String churnReached(int cycle, List<String> problems) throws Exception {
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        StringBuilder note = new StringBuilder("Configuration after the run: the churn manifest left ")
                .append(cycle < 0 ? "no churn workload" : "cycle " + cycle + "'s " + CHURN_WORKLOADS + " workloads")
                .append(" in policy's directory;");
        for (String node : List.of("node-a", "node-b")) {
            ChurnState expected = ChurnState.expected(cycle, node);
            ChurnState seen = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            long start = System.nanoTime();
            do {
                try {
                    String body = http.send(java.net.http.HttpRequest.newBuilder(
                            java.net.URI.create(CONFIG_DUMPS.get(node))).timeout(Duration.ofSeconds(5)).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString()).body();
                    seen = ChurnState.of(json.readTree(body));
                } catch (IOException e) {
                    seen = null;
                }
                if (expected.equals(seen)) {
                    break;
                }
                Thread.sleep(500);
            } while (System.nanoTime() < deadline);
            if (expected.equals(seen)) {
                note.append(String.format(" %s's config_dump matched it %.1f s after the load ended (%d workloads, %d "
                        + "policies, %d certificates of churn identities);", node, (System.nanoTime() - start) / 1e9,
                        expected.workloads().size(), expected.policies().size(), expected.certificates().size()));
            } else {
                note.append(" ").append(node).append("'s config_dump did not match it within 30 s;");
                problems.add(node + " holds " + seen + " where policy's directory says " + expected);
            }
        }
        return note.substring(0, note.length() - 1) + ".";
    }

    /** The churn's part of a ztunnel's configuration: workload and policy names, identities with a certificate. */
    record ChurnState(java.util.Set<String> workloads, java.util.Set<String> policies,
            java.util.Set<String> certificates) {

        /** What {@code node} should hold for {@code cycle} (-1: nothing): its workloads, policy, own certificates. */
        static ChurnState expected(int cycle, String node) {
            java.util.Set<String> workloads = new java.util.TreeSet<>();
            java.util.Set<String> certificates = new java.util.TreeSet<>();
            for (int i = 0; cycle >= 0 && i < CHURN_WORKLOADS; i++) {
                workloads.add("soak-" + cycle + "-" + i);
                if ((i % 2 == 0) == node.equals("node-a")) {
                    certificates.add("spiffe://cluster.local/ns/default/sa/soak-" + cycle + "-" + i);
                }
            }
            return new ChurnState(workloads, cycle < 0 ? java.util.Set.of() : java.util.Set.of("soak-" + cycle),
                    certificates);
        }

        /** The churn's names in a {@code /config_dump}. */
        static ChurnState of(com.fasterxml.jackson.databind.JsonNode dump) {
            java.util.Set<String> workloads = new java.util.TreeSet<>();
            dump.path("workloads").forEach(w -> workloads.add(w.path("name").asText()));
            java.util.Set<String> policies = new java.util.TreeSet<>();
            dump.path("policies").forEach(p -> policies.add(p.path("name").asText()));
            java.util.Set<String> certificates = new java.util.TreeSet<>();
            dump.path("certificates").forEach(c -> certificates.add(c.path("identity").asText()));
            workloads.removeIf(n -> !n.startsWith("soak-"));
            policies.removeIf(n -> !n.startsWith("soak-"));
            certificates.removeIf(id -> !id.contains("/sa/soak-"));
            return new ChurnState(workloads, policies, certificates);
        }
    }

    /** Connections node-a's ztunnel reported opening during the run against those telemetry counted from Kafka. */
    private static String telemetryCount(List<Watched> watched, Map<String, Metrics> before,
            Map<String, Metrics> after, List<String> problems) {
        String series = "istio_tcp_connections_opened_total";
        String source = "reporter=\"source\"";
        double reported = after.get("ztunnel-node-a").sum(series, source)
                - before.get("ztunnel-node-a").sum(series, source);
        double counted = after.get("telemetry").sum(series, source) - before.get("telemetry").sum(series, source);
        double dropped = after.get("ztunnel-node-a").sum("mesh_events_dropped_total", "")
                - before.get("ztunnel-node-a").sum("mesh_events_dropped_total", "");
        if (counted != reported) {
            problems.add(String.format("telemetry counted %.0f of the %.0f connections node-a reported (node-a dropped "
                    + "%.0f events)", counted, reported, dropped));
        }
        return String.format("Telemetry: node-a's ztunnel reported opening %.0f connections during the run "
                + "(reporter source) and dropped %.0f events; telemetry, reading Kafka, counted %.0f.", reported,
                dropped, counted);
    }

    private static Map<Path, Long> logSizes(Path logs, Path brokerLog) throws IOException {
        Map<Path, Long> sizes = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(logs)) {
            for (Path f : files.sorted(Comparator.naturalOrder()).toList()) {
                sizes.put(f, Files.size(f));
            }
        }
        if (Files.exists(brokerLog)) {
            sizes.put(brokerLog, Files.size(brokerLog));
        }
        return sizes;
    }

    /** How long after a restarted component is ready its clients may still warn of it (their backoff: up to 15 s). */
    static final Duration AFTER_RESTART = Duration.ofSeconds(20);

    /**
     * The warning and error lines each component and the Kafka broker logged during the run (each log from its size
     * at the soak's start on). A warning logged while a restarted component was away ({@code away}: from its SIGTERM
     * to {@link #AFTER_RESTART} past its readiness) is expected, a client telling of its server's absence, and is
     * summed up by logger; every other warning, every error, blocked event loop and leak report is a problem.
     */
    private static String logLines(Path logs, Path brokerLog, Map<Path, Long> from, List<Restarter.Outcome> away,
            List<String> problems) throws IOException {
        StringBuilder note = new StringBuilder("Warning or error lines logged during the run:");
        for (Map.Entry<Path, Long> e : logSizes(logs, brokerLog).entrySet()) {
            byte[] all = Files.readAllBytes(e.getKey());
            long start = Math.min(all.length, from.getOrDefault(e.getKey(), 0L));
            List<String> lines = new String(all, (int) start, all.length - (int) start,
                    java.nio.charset.StandardCharsets.UTF_8).lines()
                    .filter(MeshSoakScenario::warningOrError).toList();
            String name = e.getKey().equals(brokerLog) ? "kafka broker"
                    : e.getKey().getFileName().toString().replace(".log", "");
            Map<String, Integer> expected = new java.util.TreeMap<>();
            List<String> unexpected = new ArrayList<>();
            for (String line : lines) {
                if (expectedWhileAway(line, away)) {
                    expected.merge(logger(line), 1, Integer::sum);
                } else {
                    unexpected.add(line);
                }
            }
            note.append(" ").append(name).append(" ").append(lines.size());
            if (!expected.isEmpty()) {
                note.append(" (").append(lines.size() - unexpected.size()).append(" while a restarted component was "
                        + "away: ").append(expected.entrySet().stream().map(x -> x.getKey() + " " + x.getValue())
                        .collect(java.util.stream.Collectors.joining(", "))).append(")");
            }
            note.append(",");
            unexpected.stream().limit(3).map(l -> l.length() > 300 ? l.substring(0, 300) + "…" : l)
                    .forEach(l -> problems.add(name + " logged: " + l));
        }
        return note.substring(0, note.length() - 1) + ".";
    }

    /** A warning (not an error, a blocked event loop or a leak) logged while one of {@code away} was away. */
    static boolean expectedWhileAway(String line, List<Restarter.Outcome> away) {
        if (!line.contains("\"level\":\"WARN\"") && !line.matches("^\\S+ WARN .*")
                || line.contains("BlockedThreadChecker") || line.contains("LEAK:")) {
            return false;
        }
        java.time.Instant at = loggedAt(line);
        return at != null && away.stream().anyMatch(r -> !at.isBefore(r.signalled())
                && !at.isAfter(r.ready().plus(AFTER_RESTART)));
    }

    private static final Pattern JSON_TS = Pattern.compile("\"ts\":\"([^\"]+)\"");
    private static final Pattern JSON_LOGGER = Pattern.compile("\"logger\":\"(?:[^\".]*\\.)*([^\".]+)\"");

    /** When a line was logged: a JSON line's {@code ts}, or the broker's time of day (UTC, today); null if neither. */
    static java.time.Instant loggedAt(String line) {
        Matcher ts = JSON_TS.matcher(line);
        if (ts.find()) {
            return java.time.Instant.parse(ts.group(1));
        }
        if (BROKER_WARNING.matcher(line).find()) {
            java.time.LocalTime time = java.time.LocalTime.parse(line.substring(0, 12));
            return java.time.LocalDate.now(java.time.ZoneOffset.UTC).atTime(time).toInstant(java.time.ZoneOffset.UTC);
        }
        return null;
    }

    /** A line's logger, its class's simple name ({@code DeltaAdsClient}); the broker's lines: "kafka". */
    static String logger(String line) {
        Matcher m = JSON_LOGGER.matcher(line);
        return m.find() ? m.group(1) : "kafka";
    }

    /**
     * A JSON log line (the services' format) at WARN or ERROR, a Kafka broker line (kafka-local's pattern) at WARN or
     * ERROR, or a Netty leak report.
     */
    static boolean warningOrError(String line) {
        return line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") || line.contains("LEAK:")
                || BROKER_WARNING.matcher(line).find();
    }

    /** SIGTERM to the launcher, which stops every component; whatever is left after a minute is killed. */
    private static void stop(Process mesh) throws InterruptedException {
        List<ProcessHandle> children = mesh.descendants().toList();
        mesh.destroy();
        if (!mesh.waitFor(60, TimeUnit.SECONDS)) {
            mesh.destroyForcibly();
        }
        children.forEach(ProcessHandle::destroyForcibly);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
