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
    void aFileThatIsNotUtf8IsRefusedSayingSo() throws IOException {
        Path f = dir.resolve("latin1.yaml");
        Files.write(f, "logLevel: \u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessage(f + ": not UTF-8 text (expected: a YAML file in UTF-8)");
    }
}
