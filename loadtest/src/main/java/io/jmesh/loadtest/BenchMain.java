package io.jmesh.loadtest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * {@code make bench}: runs the scenarios and writes {@code results/<scenario>.md}, {@code results/<scenario>.json}
 * and a combined {@code results/README.md}.
 *
 * <p>Options: {@code --only a,b} (scenario names), {@code --quick} (short phases, for smoke runs),
 * {@code --results <dir>}, {@code --repo <dir>}.
 */
public final class BenchMain {

    /** Every scenario, in the order they run. Add new ones here. */
    static final Map<String, Supplier<Scenario>> SCENARIOS = new LinkedHashMap<>();

    static {
        SCENARIOS.put("ca-signing", io.jmesh.loadtest.ca.CaSigningScenario::new);
        SCENARIOS.put("authz-cost", io.jmesh.loadtest.authz.AuthorizationCostScenario::new);
        SCENARIOS.put("telemetry-ingest", io.jmesh.loadtest.telemetry.TelemetryIngestScenario::new);
        SCENARIOS.put("ztunnel-throughput", io.jmesh.loadtest.ztunnel.ZtunnelThroughputScenario::new);
        SCENARIOS.put("ztunnel-latency", io.jmesh.loadtest.ztunnel.ZtunnelLatencyScenario::new);
        SCENARIOS.put("ztunnel-connections", io.jmesh.loadtest.ztunnel.ZtunnelConnectionsScenario::new);
        SCENARIOS.put("ztunnel-hops", io.jmesh.loadtest.ztunnel.ZtunnelHopsScenario::new);
        SCENARIOS.put("ztunnel-capture", io.jmesh.loadtest.ztunnel.ZtunnelCaptureScenario::new);
        SCENARIOS.put("ztunnel-dns", io.jmesh.loadtest.ztunnel.ZtunnelDnsScenario::new);
        SCENARIOS.put("ztunnel-multinetwork", io.jmesh.loadtest.ztunnel.ZtunnelMultiNetworkScenario::new);
        SCENARIOS.put("ztunnel-egress", io.jmesh.loadtest.ztunnel.ZtunnelEgressScenario::new);
        SCENARIOS.put("ztunnel-soak", io.jmesh.loadtest.ztunnel.ZtunnelSoakScenario::new);
        SCENARIOS.put("ztunnel-bulk-mix", io.jmesh.loadtest.ztunnel.ZtunnelBulkMixScenario::new);
        SCENARIOS.put("policy-push", io.jmesh.loadtest.policy.PolicyPushScenario::new);
        SCENARIOS.put("mesh-soak", io.jmesh.loadtest.mesh.MeshSoakScenario::new);
        SCENARIOS.put("mesh-restarts", () -> new io.jmesh.loadtest.mesh.MeshSoakScenario(true));
    }

    private BenchMain() {}

    public static void main(String[] args) throws Exception {
        int failed = run(args);
        if (failed > 0) {
            System.exit(1);
        }
    }

    /** Runs the selected scenarios; returns how many failed (their tables are not written). */
    static int run(String[] args) throws Exception {
        Path results = Path.of("loadtest/results");
        Path repo = Path.of(".");
        Set<String> only = Set.of();
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--results" -> results = Path.of(args[++i]);
                case "--repo" -> repo = Path.of(args[++i]);
                case "--only" -> only = Set.of(args[++i].split(","));
                case "--quick" -> quick = true;
                default -> throw new IllegalArgumentException("argument: " + args[i]
                        + " (expected: --only, --quick, --results, --repo)");
            }
        }
        String onlyProp = System.getProperty("bench.only", "");
        if (only.isEmpty() && !onlyProp.isBlank()) {
            only = Set.of(onlyProp.split(","));
        }
        quick |= Boolean.getBoolean("bench.quick");
        for (String name : only) {
            if (!SCENARIOS.containsKey(name)) {
                throw new IllegalArgumentException("scenario: " + name + " (known: " + SCENARIOS.keySet() + ")");
            }
        }
        Files.createDirectories(results);
        Duration phase = quick ? Duration.ofSeconds(3) : Duration.ofSeconds(15);
        List<String> failures = new ArrayList<>();
        for (Map.Entry<String, Supplier<Scenario>> e : SCENARIOS.entrySet()) {
            if (!only.isEmpty() && !only.contains(e.getKey())) {
                continue;
            }
            Scenario s = e.getValue().get();
            Path work = Files.createTempDirectory("bench-" + s.name());
            System.out.println("== " + s.name() + ": " + s.description());
            try {
                ResultTable table = s.run(new BenchContext(repo.toAbsolutePath().normalize(), work, phase, quick));
                overrides().ifPresent(table::note);
                String md = "## " + s.name() + "\n\n" + s.description() + "\n\n" + table.markdown()
                        + "\n_Measured " + Instant.now() + " on " + machine() + "._\n";
                Files.writeString(results.resolve(s.name() + ".md"), md);
                Files.writeString(results.resolve(s.name() + ".json"), table.json() + "\n");
                System.out.println(md);
            } catch (Exception ex) {
                failures.add(s.name() + ": " + ex);
                ex.printStackTrace();
            }
        }
        writeIndex(results);
        if (!failures.isEmpty()) {
            System.err.println("failed scenarios: " + failures);
        }
        return failures.size();
    }

    /**
     * The note a table gets when the run changed the ztunnels from what the chart deploys (switches for comparison
     * runs), so that such a table is never mistaken for the defaults'.
     */
    static java.util.Optional<String> overrides() {
        List<String> set = new ArrayList<>();
        for (String p : List.of("bench.ztunnel.config", "bench.ztunnel.jvm")) {
            String v = System.getProperty(p, "").trim();
            if (!v.isEmpty()) {
                set.add("-D" + p + "=\"" + v + "\"");
            }
        }
        return set.isEmpty() ? java.util.Optional.empty()
                : java.util.Optional.of("Not the defaults: run with " + String.join(" and ", set) + ".");
    }

    private static void writeIndex(Path results) throws IOException {
        StringBuilder sb = new StringBuilder("# Benchmark results\n\nWritten by `make bench`; each section is one "
                + "scenario with its baselines measured in the same run.\n\n");
        for (String name : SCENARIOS.keySet()) {
            Path md = results.resolve(name + ".md");
            if (Files.exists(md)) {
                sb.append(Files.readString(md)).append('\n');
            }
        }
        Files.writeString(results.resolve("README.md"), sb.toString());
    }

    static String machine() {
        return Runtime.getRuntime().availableProcessors() + " CPUs, Java " + Runtime.version() + ", "
                + System.getProperty("os.name") + " " + System.getProperty("os.version");
    }
}
