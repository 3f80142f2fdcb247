package io.jmesh.loadtest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner: selection, result files, and a failing scenario not taking the others down. */
class BenchMainTest {

    @TempDir
    Path results;

    private final List<BenchContext> seen = new ArrayList<>();
    private final List<String> registered = new ArrayList<>();

    @BeforeEach
    void register() {
        add("test-ok", ctx -> {
            seen.add(ctx);
            return new ResultTable("subject", "ops/s").row("baseline", 100.0).row("subject", 50.0);
        });
        add("test-fails", ctx -> {
            throw new IllegalStateException("peer proxy did not start");
        });
    }

    @AfterEach
    void unregister() {
        registered.forEach(BenchMain.SCENARIOS::remove);
    }

    @Test
    void writesMarkdownJsonAndAnIndexForTheSelectedScenario() throws Exception {
        int failed = BenchMain.run(new String[] {"--only", "test-ok", "--quick", "--results", results.toString()});

        assertThat(failed).isZero();
        assertThat(seen).singleElement().satisfies(ctx -> {
            assertThat(ctx.quick()).isTrue();
            assertThat(ctx.workDir()).isDirectory();
        });
        assertThat(Files.readString(results.resolve("test-ok.md")))
                .contains("## test-ok", "| baseline | 100 |", "| subject | 50.00 |", "_Measured ");
        assertThat(Files.readString(results.resolve("test-ok.json"))).contains("\"ops/s\":100.0");
        assertThat(Files.readString(results.resolve("README.md"))).contains("## test-ok");
        assertThat(results.resolve("test-fails.md")).doesNotExist();
    }

    @Test
    void aRunWithZtunnelOverridesSaysSoInItsTable() throws Exception {
        System.setProperty("bench.ztunnel.config", "hbone: {sharedStreamWindowBytes: 0}");
        try {
            BenchMain.run(new String[] {"--only", "test-ok", "--quick", "--results", results.toString()});
        } finally {
            System.clearProperty("bench.ztunnel.config");
        }
        assertThat(Files.readString(results.resolve("test-ok.md"))).contains(
                "Not the defaults: run with -Dbench.ztunnel.config=\"hbone: {sharedStreamWindowBytes: 0}\".");
        BenchMain.run(new String[] {"--only", "test-ok", "--quick", "--results", results.toString()});
        assertThat(Files.readString(results.resolve("test-ok.md"))).doesNotContain("Not the defaults");
    }

    @Test
    void aFailingScenarioIsCountedAndTheOthersStillRun() throws Exception {
        int failed = BenchMain.run(new String[] {"--only", "test-fails,test-ok", "--quick", "--results",
                results.toString()});

        assertThat(failed).isEqualTo(1);
        assertThat(results.resolve("test-ok.md")).exists();
    }

    @Test
    void anUnknownScenarioOrArgumentIsRefusedNamingIt() {
        assertThatThrownBy(() -> BenchMain.run(new String[] {"--only", "nope", "--results", results.toString()}))
                .hasMessageContaining("scenario: nope (known: ");
        assertThatThrownBy(() -> BenchMain.run(new String[] {"--fast"}))
                .hasMessageContaining("argument: --fast");
    }

    private void add(String name, ScenarioBody body) {
        registered.add(name);
        BenchMain.SCENARIOS.put(name, () -> new Scenario() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public String description() {
                return "a scenario of the runner's own test";
            }

            @Override
            public ResultTable run(BenchContext context) throws Exception {
                return body.run(context);
            }
        });
    }

    private interface ScenarioBody {
        ResultTable run(BenchContext context) throws Exception;
    }
}
