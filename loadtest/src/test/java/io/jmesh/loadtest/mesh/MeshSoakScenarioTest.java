package io.jmesh.loadtest.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MeshSoakScenarioTest {

    @TempDir
    Path dir;

    static List<JsonNode> documents(String yaml) throws Exception {
        ObjectMapper mapper = new ObjectMapper(new YAMLFactory());
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it = mapper.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNext()) {
                JsonNode d = it.next();
                if (d != null && !d.isEmpty()) {
                    docs.add(d);
                }
            }
        }
        return docs;
    }

    /** Each cycle's workloads are new identities on both nodes, with addresses no other cycle nearby uses. */
    @Test
    void eachChurnCycleBringsNewWorkloadsOnBothNodesAndAPolicyForThem() throws Exception {
        Set<String> addresses = new HashSet<>();
        Set<String> accounts = new HashSet<>();
        for (int cycle = 0; cycle < 20; cycle += 2) {
            List<JsonNode> docs = documents(MeshSoakScenario.manifest(cycle));
            assertThat(docs).hasSize(MeshSoakScenario.CHURN_WORKLOADS + 1);
            List<JsonNode> workloads = docs.subList(0, MeshSoakScenario.CHURN_WORKLOADS);
            assertThat(workloads).allSatisfy(w -> assertThat(w.get("kind").asText()).isEqualTo("WorkloadEntry"));
            assertThat(workloads.stream().map(w -> w.at("/spec/node").asText()).distinct())
                    .containsExactlyInAnyOrder("node-a", "node-b");
            for (JsonNode w : workloads) {
                assertThat(addresses.add(w.at("/spec/address").asText())).isTrue();
                assertThat(accounts.add(w.at("/spec/serviceAccount").asText())).isTrue();
            }
            JsonNode policy = docs.get(MeshSoakScenario.CHURN_WORKLOADS);
            assertThat(policy.get("kind").asText()).isEqualTo("AuthorizationPolicy");
            assertThat(policy.at("/spec/selector/matchLabels/app").asText()).isEqualTo("soak-" + cycle);
        }
    }

    /** The churn writes the manifest, removes it, and so on, and stops by itself at the end. */
    @Test
    void theChurnAlternatesAndEndsOnTime() throws Exception {
        MeshSoakScenario.Churn churn = new MeshSoakScenario.Churn(dir, Duration.ofMillis(100));
        List<Boolean> present = new ArrayList<>();
        Thread watcher = new Thread(() -> {
            for (int i = 0; i < 12; i++) {
                present.add(Files.exists(dir.resolve(MeshSoakScenario.CHURN_FILE)));
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        long start = System.nanoTime();
        watcher.start();
        churn.run(start + Duration.ofMillis(550).toNanos());
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        watcher.join();
        assertThat(tookMs).isLessThan(5_000);
        int written = churn.written.get();
        assertThat(written).isBetween(2, 5);
        assertThat(present).contains(true, false);
        // written, removed, written...: there after an odd number of changes, and present() says which cycle
        assertThat(Files.exists(dir.resolve(MeshSoakScenario.CHURN_FILE))).isEqualTo(written % 2 == 1);
        assertThat(churn.present()).isEqualTo(written % 2 == 1 ? written - 1 : -1);
    }

    @Test
    void everyJmeshServiceIsWatchedWithItsMetricsAndTheOthersWithout() {
        var watched = MeshSoakScenario.watched(1, new java.util.LinkedHashMap<>(Map.of("ca", 2L, "demo-apps", 3L)));
        assertThat(watched).extracting(MeshSoakScenario.Watched::name)
                .contains("make run launcher", "ca", "demo-apps");
        assertThat(watched).filteredOn(w -> w.name().equals("ca")).singleElement()
                .extracting(MeshSoakScenario.Watched::metrics).isEqualTo("http://127.0.1.1:15014/metrics");
        assertThat(watched).filteredOn(w -> w.name().equals("demo-apps")).singleElement()
                .extracting(MeshSoakScenario.Watched::metrics).isNull();
    }

    @Test
    void warningAndErrorLinesAreFoundInTheServicesJsonLogs() {
        assertThat(MeshSoakScenario.warningOrError(
                "{\"ts\":\"2026-12-06T04:01:48Z\",\"level\":\"ERROR\",\"logger\":\"x\",\"msg\":\"y\"}")).isTrue();
        assertThat(MeshSoakScenario.warningOrError("{\"ts\":\"t\",\"level\":\"WARN\",\"msg\":\"z\"}")).isTrue();
        assertThat(MeshSoakScenario.warningOrError("{\"ts\":\"t\",\"level\":\"INFO\",\"msg\":\"WARN ERROR\"}"))
                .isFalse();
    }

    @Test
    void theKafkaBrokersWarningsAreFoundToo() {
        assertThat(MeshSoakScenario.warningOrError("08:17:49.256 WARN  [kafka-local-shutdown] o.a.k.NetworkClient - x"))
                .isTrue();
        assertThat(MeshSoakScenario.warningOrError("08:17:49.256 ERROR [main] kafka.Kafka - y")).isTrue();
        assertThat(MeshSoakScenario.warningOrError("08:17:49.256 INFO  [main] kafka.Kafka - WARN")).isFalse();
    }

    /**
     * A warning logged while a restarted component was away (SIGTERM to 20 s past ready) is expected; one before or
     * after, an error, and a blocked event loop are not.
     */
    @Test
    void warningsWhileARestartedComponentIsAwayAreExpectedAndNothingElseIs() {
        java.time.Instant signalled = java.time.Instant.parse("2026-12-06T08:20:25Z");
        List<Restarter.Outcome> away = List.of(new Restarter.Outcome("ca", 1, 2, 13, 0.3, 13.5, null, signalled,
                signalled.plusSeconds(14)));
        String during = "{\"ts\":\"2026-12-06T08:20:31.252Z\",\"level\":\"WARN\",\"logger\":"
                + "\"io.jmesh.ztunnel.trust.TrustBundleWatcher\",\"msg\":\"trust bundle watch ended\"}";
        assertThat(MeshSoakScenario.expectedWhileAway(during, away)).isTrue();
        assertThat(MeshSoakScenario.logger(during)).isEqualTo("TrustBundleWatcher");
        assertThat(MeshSoakScenario.expectedWhileAway(during.replace("08:20:31", "08:20:24"), away)).isFalse();
        assertThat(MeshSoakScenario.expectedWhileAway(during.replace("08:20:31", "08:20:58"), away)).isTrue();
        assertThat(MeshSoakScenario.expectedWhileAway(during.replace("08:20:31", "08:21:00"), away)).isFalse();
        assertThat(MeshSoakScenario.expectedWhileAway(during.replace("WARN", "ERROR"), away)).isFalse();
        assertThat(MeshSoakScenario.expectedWhileAway(during.replace("io.jmesh.ztunnel.trust.TrustBundleWatcher",
                "io.vertx.core.impl.BlockedThreadChecker"), away)).isFalse();
        assertThat(MeshSoakScenario.expectedWhileAway(during, List.of())).isFalse();
        String broker = "08:20:30.000 WARN  [quorum-controller-1-event-handler] o.a.k.c.QuorumController - activation";
        assertThat(MeshSoakScenario.loggedAt(broker)).isEqualTo(java.time.LocalDate.now(java.time.ZoneOffset.UTC)
                .atTime(8, 20, 30).toInstant(java.time.ZoneOffset.UTC));
        assertThat(MeshSoakScenario.logger(broker)).isEqualTo("kafka");
    }

    /** What a ztunnel should hold of the churn, read from its config_dump (other workloads and policies ignored). */
    @Test
    void theChurnsStateIsReadFromAConfigDump() throws Exception {
        String dump = """
                {"workloads": [{"name": "sleep"}, {"name": "soak-4-0"}, {"name": "soak-4-1"}, {"name": "soak-4-2"},
                               {"name": "soak-4-3"}],
                 "policies": [{"name": "soak-4"}, {"name": "allow-sleep"}],
                 "certificates": [{"identity": "spiffe://cluster.local/ns/default/sa/sleep"},
                                  {"identity": "spiffe://cluster.local/ns/default/sa/soak-4-0"},
                                  {"identity": "spiffe://cluster.local/ns/default/sa/soak-4-2"}]}
                """;
        var seen = MeshSoakScenario.ChurnState.of(new ObjectMapper().readTree(dump));
        assertThat(seen).isEqualTo(MeshSoakScenario.ChurnState.expected(4, "node-a"));
        assertThat(seen).isNotEqualTo(MeshSoakScenario.ChurnState.expected(4, "node-b"));
        String other = "{\"workloads\": [{\"name\": \"sleep\"}]}";
        assertThat(MeshSoakScenario.ChurnState.of(new ObjectMapper().readTree(other)))
                .isEqualTo(MeshSoakScenario.ChurnState.expected(-1, "node-b"));
    }
}
