package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.Metrics;
import io.jmesh.loadtest.ProcessWatch;
import io.jmesh.loadtest.ProcessWatch.Sample;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Whether a ztunnel pair stays flat over minutes of mixed load while its workload certificates rotate: resident
 * memory, the heap left after a full collection, file descriptors and threads, sampled through the run, against the
 * HAProxy TLS pair under the same load at the same time; every failed request, connection and bulk transfer; the
 * sockets ztunnel still counts open once the load is gone; and Netty's leak detector's reports. The run's length is
 * {@code -Dbench.soak.minutes} (5 by default; 40 s with {@code --quick}).
 */
public final class ZtunnelSoakScenario implements Scenario {

    private static final int WINDOWS = 5;

    @Override
    public String name() {
        return "ztunnel-soak";
    }

    @Override
    public String description() {
        return "stability under minutes of mixed load with certificates rotating: memory, descriptors, threads and "
                + "failures of the ztunnel pair against the HAProxy TLS pair under the same load in the same run";
    }

    /** A process watched through the run; for a ztunnel its node (its log's name) and where its metrics are. */
    private record Watched(String name, Process process, String node, String metricsHost) {}

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        SoakLoad.Timing timing = SoakLoad.Timing.of(ctx);
        Duration soak = timing.length();
        // issued valid for this long (from a minute back): ztunnel renews at half-life, every ~30 s (quick: ~10 s)
        Duration validity = ctx.quick() ? Duration.ofSeconds(80) : Duration.ofSeconds(120);
        Duration every = timing.sampleEvery();
        Duration bulkEvery = timing.bulkEvery();
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            topo.workloadCertificateValidity(validity);
            // advanced: a sample of buffers is tracked with its access points, a leak is logged at ERROR
            topo.extraJvm.add("-Dio.netty.leakDetection.level=advanced");
            topo.startHaproxy();
            topo.startZtunnels(ctx.serviceJar("ztunnel"));
            Duration warmup = Topology.warmup(ctx);
            for (Topology.Dialer path : List.of(topo.ztunnel(), topo.haproxy())) {
                Loads.connectionRate(path, 10, warmup);
                Loads.fixedRate(path, SoakLoad.STEADY_CONNECTIONS, 1000, 1024, warmup);
                for (int i = 0; i < 5; i++) {
                    SoakLoad.bulkTransfer(path); // the large-frame path's code compiled before the soak, too
                }
            }
            List<Watched> watched = List.of(
                    new Watched("ztunnel node-a", topo.ztunnelA, "node-a", Topology.NODE_A),
                    new Watched("ztunnel node-b", topo.ztunnelB, "node-b", Topology.NODE_B),
                    new Watched("HAProxy in (TLS client)", topo.haproxies.get(1), null, null),
                    new Watched("HAProxy out (TLS server)", topo.haproxies.get(0), null, null));
            Map<String, Double> heapBefore = new LinkedHashMap<>();
            Map<String, Double> fetchesBefore = new LinkedHashMap<>();
            for (Watched w : ztunnels(watched)) {
                heapBefore.put(w.name, heapAfterFullGcMiB(w));
                fetchesBefore.put(w.name, metrics(w.metricsHost).sum("ztunnel_certificate_fetches_total",
                        "outcome=\"success\""));
            }
            // after jcmd, whose attach starts a thread in the JVM it talks to
            Map<String, Map<String, Long>> threadsBefore = new LinkedHashMap<>();
            for (Watched w : watched) {
                threadsBefore.put(w.name, ProcessWatch.threadNames(w.process.pid()));
            }

            SoakLoad viaZtunnel = new SoakLoad("ztunnel", topo.ztunnel(), soak, WINDOWS, bulkEvery);
            SoakLoad viaHaproxy = new SoakLoad("haproxy", topo.haproxy(), soak, WINDOWS, bulkEvery);
            long t0 = System.nanoTime();
            viaZtunnel.start();
            viaHaproxy.start();
            Map<String, Long> pids = new LinkedHashMap<>();
            watched.forEach(w -> pids.put(w.name, w.process.pid()));
            Map<String, List<Sample>> samples = ProcessWatch.sampleUntil(pids, t0, t0 + soak.toNanos(), every);
            SoakLoad.Figures z = viaZtunnel.await();
            SoakLoad.Figures h = viaHaproxy.await();

            Thread.sleep(5000); // the load's last sockets close on every hop
            Map<String, Sample> after = new LinkedHashMap<>();
            for (Watched w : watched) {
                after.put(w.name, ProcessWatch.sample(w.process.pid(), (System.nanoTime() - t0) / 1e9));
            }
            Map<String, Metrics> metricsAfter = new LinkedHashMap<>();
            Map<String, Double> heapAfter = new LinkedHashMap<>();
            for (Watched w : ztunnels(watched)) {
                metricsAfter.put(w.name, metrics(w.metricsHost));
                heapAfter.put(w.name, heapAfterFullGcMiB(w));
            }

            ResultTable t = ProcessWatch.table();
            for (Watched w : watched) {
                ProcessWatch.row(t, w.name, samples.get(w.name), after.get(w.name), heapBefore.get(w.name),
                        heapAfter.get(w.name));
            }
            t.note(String.format("%d s of load on each path at once, the same on both: %d req/s of 1 KiB over %d "
                    + "persistent connections, %d new connections a second (64-byte round trip each, %d loops), "
                    + "and every %d s a %d MiB transfer echoed back and ended by a half-close. Each ztunnel's "
                    + "workload certificates were issued valid for %d s (from a minute back), so renewed at "
                    + "half-life while the tunnels ran; Netty's leak detector on (advanced). Samples every %d s.",
                    soak.toSeconds(), SoakLoad.STEADY_RATE, SoakLoad.STEADY_CONNECTIONS, SoakLoad.CHURN_RATE,
                    SoakLoad.CHURN_LOOPS, bulkEvery.toSeconds(), SoakLoad.BULK_BYTES >> 20,
                    validity.toSeconds(), every.toSeconds()));
            t.note(z.summary("two ztunnels (HBONE)"));
            t.note(h.summary("HAProxy pair (TLS 1.3 mTLS)"));
            List<String> problems = new ArrayList<>();
            StringBuilder ztunnelNote = new StringBuilder("ztunnels after the load:");
            for (Watched w : ztunnels(watched)) {
                Metrics m = metricsAfter.get(w.name);
                double renewed = m.sum("ztunnel_certificate_fetches_total", "outcome=\"success\"")
                        - fetchesBefore.get(w.name);
                double failedFetches = m.sum("ztunnel_certificate_fetches_total", "outcome=\"failure\"");
                double open = m.sum("istio_tcp_sockets_open", "");
                Path log = topo.dir.resolve("ztunnel-" + w.node + ".log");
                List<String> lines = Files.readAllLines(log);
                long leaks = lines.stream().filter(l -> l.contains("LEAK:")).count();
                Set<String> warnings = lines.stream().filter(l -> l.contains("WARN") || l.contains("ERROR"))
                        .map(l -> l.length() > 200 ? l.substring(0, 200) + "…" : l)
                        .collect(Collectors.toCollection(LinkedHashSet::new));
                ztunnelNote.append(String.format(" %s: %.0f certificates renewed during the soak (%.0f fetches "
                        + "failed), %.0f sockets still counted open, %.0f pooled HBONE connections, %d leak reports, "
                        + "%d warning or error lines;", w.name, renewed, failedFetches, open,
                        m.sum("ztunnel_pool_connections", ""), leaks, warnings.size()));
                String grown = ProcessWatch.grownThreads(threadsBefore.get(w.name), ProcessWatch.threadNames(w.process.pid()));
                if (!grown.isEmpty()) {
                    ztunnelNote.append(" threads more than before the soak: ").append(grown).append(";");
                }
                if (leaks > 0) {
                    problems.add(w.name + ": " + leaks + " Netty leak reports (" + log.getFileName() + ")");
                }
                if (open > 0) {
                    problems.add(w.name + ": " + (long) open + " sockets still counted open after the load");
                }
                if (renewed < 1) {
                    problems.add(w.name + ": no certificate renewed during the soak");
                }
                warnings.stream().limit(3).forEach(l -> problems.add(w.name + " logged: " + l));
            }
            if (z.requestFailures() + z.connectionFailures() + z.bulkFailures() > 0) {
                problems.add("ztunnel path: failures (" + z.firstErrors() + ")");
            }
            t.note(ztunnelNote.substring(0, ztunnelNote.length() - 1) + ".");
            t.note(problems.isEmpty() ? "Problems found: none." : "Problems found: " + String.join("; ", problems)
                    + ".");
            t.note(MachineState.note());
            return t;
        }
    }

    private static List<Watched> ztunnels(List<Watched> watched) {
        return watched.stream().filter(w -> w.metricsHost != null).toList();
    }

    private static double heapAfterFullGcMiB(Watched w) throws Exception {
        return ProcessWatch.heapAfterFullGcMiB(w.process.pid(), "http://" + w.metricsHost + ":15020/metrics");
    }

    /** One scrape of a ztunnel's {@code /metrics} (port 15020 on its node address). */
    static Metrics metrics(String host) throws IOException, InterruptedException {
        return Metrics.scrape("http://" + host + ":15020/metrics");
    }
}
