package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ztunnel.ZtunnelJvmFlags.Footprint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's JVM flags have one source, the chart's {@code javaOptions} (and {@code smallFootprint.javaOptions}, the
 * small-footprint profile): the benchmarks start their ztunnels with them, and docs/ztunnel.md quotes them verbatim
 * (so a change to the flags shows up in the docs' diff, or fails here).
 */
class JvmFlagsTest {

    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    @Test
    void benchmarksUseTheChartsJavaOptionsAndTheDocsQuoteThem() throws Exception {
        BenchContext ctx = new BenchContext(REPO, REPO, Duration.ofSeconds(1), true);

        String docs = Files.readString(REPO.resolve("docs/ztunnel.md"));
        for (Footprint footprint : Footprint.values()) {
            var flags = ZtunnelJvmFlags.of(ctx, footprint);

            assertThat(flags).as(footprint.javaOptionsKey()).isNotEmpty()
                    .allSatisfy(f -> assertThat(f).startsWith("-"));
            assertThat(docs).contains("`" + String.join(" ", flags) + "`")
                    .contains("`MALLOC_ARENA_MAX=" + ZtunnelJvmFlags.mallocArenaMax(ctx, footprint) + "`");
        }
        // the small profile is what its name says: C1 only, and a smaller heap than the default's
        assertThat(ZtunnelJvmFlags.of(ctx, Footprint.SMALL)).contains("-XX:TieredStopAtLevel=1")
                .doesNotContainAnyElementsOf(ZtunnelJvmFlags.of(ctx, Footprint.DEFAULT).stream()
                        .filter(f -> f.startsWith("-Xms")).toList());
    }

    @Test
    void theBenchmarksProfileIsPickedByNameAndAnUnknownOneIsRefusedNamingIt() {
        String before = System.getProperty("bench.ztunnel.footprint");
        try {
            System.setProperty("bench.ztunnel.footprint", "small");
            assertThat(Footprint.selected()).isEqualTo(Footprint.SMALL);
            System.setProperty("bench.ztunnel.footprint", "tiny");
            assertThatThrownBy(Footprint::selected).hasMessage(
                    "bench.ztunnel.footprint: 'tiny' is neither 'default' nor 'small'");
            System.clearProperty("bench.ztunnel.footprint");
            assertThat(Footprint.selected()).isEqualTo(Footprint.DEFAULT);
        } finally {
            if (before == null) {
                System.clearProperty("bench.ztunnel.footprint");
            } else {
                System.setProperty("bench.ztunnel.footprint", before);
            }
        }
    }
}
