package io.jmesh.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigLoaderTest.TestConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ConfigLoader}: regressions found by {@link ConfigLoaderFuzz}, each with its minimized input. */
class ConfigLoaderRegressionTest {

    @TempDir
    Path dir;

    @Test
    void aDurationLongerThanDurationHoldsIsRefusedNamingTheKeyNotAnArithmeticException() throws IOException {
        Path f = dir.resolve("config.yaml");
        Files.writeString(f, "drainDeadline: 106755991167300d\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage(f + ": 'drainDeadline': cannot read '106755991167300d' as a duration such as 10s");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", null,
                Map.of("MESH_DRAIN_DEADLINE", "2562067788015215h")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("config: 'drainDeadline': cannot read '2562067788015215h'");
    }

    @Test
    void durationsJustBelowTheLimitStillParseAndThoseAboveSaySo() {
        assertThat(Durations.parse("106751991167300d")).isEqualTo(Duration.ofDays(106_751_991_167_300L));
        for (String tooLong : List.of("106751991167301d", "2562047788015216h", "153722867280912931m",
                "99999999999999999999s", "99999999999999999999ms")) {
            assertThatThrownBy(() -> Durations.parse(tooLong))
                    .as(tooLong)
                    .isExactlyInstanceOf(IllegalArgumentException.class)
                    .hasMessage("duration: '" + tooLong + "' is too long (expected: at most " + Long.MAX_VALUE + "s)");
        }
    }

    @Test
    void everyDurationFormatsWithoutOverflowAndParsesBack() {
        // toMillis() overflowed past ~292 million years: Durations.format threw ArithmeticException
        assertThat(Durations.format(Durations.parse("106751991167300d"))).isEqualTo("106751991167300d");
        assertThat(Durations.format(Durations.parse("200000000000d"))).isEqualTo("200000000000d");
        assertThat(Durations.format(Duration.ofSeconds(Long.MAX_VALUE))).isEqualTo(Long.MAX_VALUE + "s");
        assertThat(Durations.format(Duration.ofMillis(Long.MAX_VALUE))).isEqualTo(Long.MAX_VALUE + "ms");
        for (Duration d : List.of(Duration.ofSeconds(Long.MAX_VALUE, 999_999_999), Duration.ofSeconds(Long.MAX_VALUE,
                1_000_000), Duration.ofSeconds(Long.MIN_VALUE), Duration.ofSeconds(-5), Duration.ofNanos(500_000),
                Duration.ofDays(106_751_991_167_300L).plusNanos(1), Duration.ofMillis(Long.MAX_VALUE).plusMillis(1),
                Duration.ZERO, Duration.ofMillis(1500), Duration.ofHours(25), Duration.ofSeconds(3 * 86_400 + 60))) {
            String text = Durations.format(d);
            assertThat(Durations.parse(text)).as(text).isEqualTo(d);
        }
        assertThat(Durations.format(Duration.ofSeconds(-5))).isEqualTo("PT-5S");
        assertThat(Durations.format(Duration.ofNanos(500_000))).isEqualTo("PT0.0005S");
        assertThat(Durations.format(Duration.ZERO)).isEqualTo("0s");
        assertThat(Durations.format(Duration.ofMillis(1500))).isEqualTo("1500ms");
    }

    @Test
    void aFileThatIsNotUtf8IsRefusedSayingSo() throws IOException {
        Path f = dir.resolve("latin1.yaml");
        Files.write(f, "logLevel: \u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage(f + ": not UTF-8 text (expected: a YAML file in UTF-8)");
    }
}
