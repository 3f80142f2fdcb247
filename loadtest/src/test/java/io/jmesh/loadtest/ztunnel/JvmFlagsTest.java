package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.loadtest.BenchContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's JVM flags have one source, the chart's {@code javaOptions}: the benchmarks start their ztunnels with
 * it, and docs/ztunnel.md quotes it verbatim (so a change to the flags shows up in the docs' diff, or fails here).
 */
class JvmFlagsTest {

    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    @Test
    void benchmarksUseTheChartsJavaOptionsAndTheDocsQuoteThem() throws Exception {
        BenchContext ctx = new BenchContext(REPO, REPO, Duration.ofSeconds(1), true);

        var flags = ZtunnelJvmFlags.of(ctx);

        assertThat(flags).isNotEmpty().allSatisfy(f -> assertThat(f).startsWith("-"));
        String docs = Files.readString(REPO.resolve("docs/ztunnel.md"));
        assertThat(docs).contains("`" + String.join(" ", flags) + "`")
                .contains("`MALLOC_ARENA_MAX=" + ZtunnelJvmFlags.mallocArenaMax(ctx) + "`");
    }
}
