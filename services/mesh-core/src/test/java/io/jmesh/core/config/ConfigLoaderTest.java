package io.jmesh.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.lifecycle.ServiceConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    enum Mode { STRICT, PERMISSIVE }

    record Server(int port, long streamWindowBytes, Mode mode, List<String> upstreams) {
        Server {
            Ports.check("port", port);
            if (streamWindowBytes < 65_535) {
                throw new IllegalArgumentException("streamWindowBytes: " + streamWindowBytes
                        + " (expected: >= 65535)");
            }
        }
    }

    record Auth(String bootstrapToken) {}

    record TestConfig(String logLevel, Duration drainDeadline, AdminConfig admin, Server server, Auth auth)
            implements ServiceConfig {}

    @TempDir
    Path dir;

    @Test
    void defaultsAloneBind() {
        var loaded = ConfigLoader.load(TestConfig.class, "testsvc", null, Map.of());
        assertThat(loaded.config().server().port()).isEqualTo(15012);
        assertThat(loaded.config().server().mode()).isEqualTo(Mode.STRICT);
        assertThat(loaded.config().drainDeadline()).isEqualTo(Duration.ofSeconds(5));
        assertThat(loaded.sources()).containsExactly("classpath:/testsvc-defaults.yaml");
    }

    @Test
    void theAdminServersScrapeLimitIsTwoUnlessSetAndOutOfRangeIsRefusedNamingTheField() {
        assertThat(ConfigLoader.load(TestConfig.class, "testsvc", null, Map.of()).config().admin()
                .maxConcurrentScrapes()).isEqualTo(2);
        assertThat(new AdminConfig("127.0.0.1", 0, 0).maxConcurrentScrapes()).as("0 (absent): the default").isEqualTo(2);
        assertThat(ConfigLoader.load(TestConfig.class, "testsvc", null,
                Map.of("MESH_ADMIN_MAX_CONCURRENT_SCRAPES", "4")).config().admin().maxConcurrentScrapes())
                .isEqualTo(4);
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", null,
                Map.of("MESH_ADMIN_MAX_CONCURRENT_SCRAPES", "-1")))
                .hasMessageContaining("maxConcurrentScrapes: -1 (expected: 1 to 64)");
    }

    @Test
    void fileMergesOverDefaultsKeyByKey() throws IOException {
        Path f = write("server:\n  port: 16000\ndrainDeadline: 250ms\n");
        var c = ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()).config();
        assertThat(c.server().port()).isEqualTo(16000);
        assertThat(c.server().streamWindowBytes()).isEqualTo(4_194_304L);
        assertThat(c.drainDeadline()).isEqualTo(Duration.ofMillis(250));
    }

    @Test
    void environmentOverridesEveryLeafWithTypedValues() throws IOException {
        Path f = write("server:\n  port: 16000\n");
        var loaded = ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of(
                "MESH_SERVER_PORT", "17000",
                "MESH_SERVER_STREAM_WINDOW_BYTES", "1048576",
                "MESH_SERVER_MODE", "PERMISSIVE",
                "MESH_SERVER_UPSTREAMS", "[x, y, z]",
                "MESH_ADMIN_HOST", "0.0.0.0",
                "MESH_NOT_A_KEY", "1",
                "PATH", "/usr/bin"));
        var c = loaded.config();
        assertThat(c.server().port()).isEqualTo(17000);
        assertThat(c.server().streamWindowBytes()).isEqualTo(1_048_576L);
        assertThat(c.server().mode()).isEqualTo(Mode.PERMISSIVE);
        assertThat(c.server().upstreams()).containsExactly("x", "y", "z");
        assertThat(c.admin().host()).isEqualTo("0.0.0.0");
        assertThat(loaded.ignoredEnv()).containsExactly("MESH_NOT_A_KEY");
        assertThat(loaded.sources()).last().asString().startsWith("env:");
    }

    @Test
    void envNamesFollowTheDocumentedRule() {
        assertThat(ConfigLoader.envName("admin.port")).isEqualTo("MESH_ADMIN_PORT");
        assertThat(ConfigLoader.envName("hbone.streamWindowBytes")).isEqualTo("MESH_HBONE_STREAM_WINDOW_BYTES");
    }

    @Test
    void unknownKeyIsRejectedNamingItAndTheKnownOnes() throws IOException {
        Path f = write("server:\n  prot: 1\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("unknown key 'server.prot'")
                .hasMessageContaining("port")
                .hasMessageContaining(f.toString());
    }

    @Test
    void wrongTypeNamesKeyValueAndExpectation() throws IOException {
        Path f = write("server:\n  port: eighty\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'server.port'")
                .hasMessageContaining("eighty")
                .hasMessageContaining("integer");
    }

    @Test
    void badEnumListsAllowedValues() throws IOException {
        Path f = write("server:\n  mode: lenient\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .hasMessageContaining("'server.mode'")
                .hasMessageContaining("STRICT, PERMISSIVE");
    }

    @Test
    void recordValidationIsReportedWithItsKey() throws IOException {
        Path f = write("server:\n  port: 70000\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("port: 70000 (expected: 0..65535)");
    }

    @Test
    void badDurationSaysWhatIsExpected() throws IOException {
        Path f = write("drainDeadline: soon\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .hasMessageContaining("drainDeadline")
                .hasMessageContaining("soon");
    }

    @Test
    void notYamlAndMissingFilesAreClearErrors() throws IOException {
        Path f = write("server: [unclosed\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()))
                .hasMessageContaining("not valid YAML");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", dir.resolve("nope.yaml"), Map.of()))
                .hasMessageContaining("no such file");
        Path list = write("- a\n- b\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", list, Map.of()))
                .hasMessageContaining("expected a mapping");
    }

    @Test
    void printedConfigRedactsSecrets() throws IOException {
        Path f = write("auth:\n  bootstrapToken: s3cr3t\n");
        var loaded = ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of());
        assertThat(loaded.config().auth().bootstrapToken()).isEqualTo("s3cr3t");
        assertThat(loaded.redactedJson()).doesNotContain("s3cr3t").contains("<redacted>");
        assertThat(loaded.effective().getJsonObject("auth").getString("bootstrapToken")).isEqualTo("s3cr3t");
    }

    @Test
    void durationsRoundTrip() {
        for (String s : List.of("500ms", "10s", "5m", "12h", "90d")) {
            assertThat(Durations.format(Durations.parse(s))).isEqualTo(s);
        }
        assertThat(Durations.parse("PT1M")).isEqualTo(Duration.ofMinutes(1));
        assertThatThrownBy(() -> Durations.parse("1 fortnight")).hasMessageContaining("expected");
    }

    @Test
    void quotedNumbersAreNumbersAndOneValueIsAListOfOne() throws IOException {
        Path f = write("server:\n  port: \"16001\"\n  upstreams: solo\n");
        var c = ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()).config();
        assertThat(c.server().port()).isEqualTo(16001);
        assertThat(c.server().upstreams()).containsExactly("solo");
    }

    @Test
    void stringsKeepTheTextTheyWereWrittenAs() throws IOException {
        Path f = write("logLevel: 010\nauth:\n  bootstrapToken: yes\nserver:\n  upstreams: [1.10, 2026-01-01, off]\n");
        var c = ConfigLoader.load(TestConfig.class, "testsvc", f, Map.of()).config();
        assertThat(c.logLevel()).isEqualTo("010");
        assertThat(c.auth().bootstrapToken()).isEqualTo("yes");
        assertThat(c.server().upstreams()).containsExactly("1.10", "2026-01-01", "off");
    }

    @Test
    void nullForANumberAndAMappingForAValueAreNamed() throws IOException {
        Path nullPort = write("server:\n  port: null\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", nullPort, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'server.port': must not be null (expected: an integer");
        Path shape = write("server:\n  port: {a: 1}\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", shape, Map.of()))
                .hasMessageContaining("'server.port': wrong shape (expected: an integer")
                .hasMessageContaining("found a mapping");
        Path big = write("server:\n  port: 99999999999\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", big, Map.of()))
                .hasMessageContaining("'server.port': cannot read '99999999999' as an integer");
    }

    @Test
    void duplicateKeysAndSecondDocumentsAreRejected() throws IOException {
        Path dup = write("logLevel: info\nlogLevel: debug\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", dup, Map.of()))
                .hasMessageContaining("not valid YAML")
                .hasMessageContaining("logLevel");
        Path two = write("logLevel: info\n---\nlogLevel: debug\n");
        assertThatThrownBy(() -> ConfigLoader.load(TestConfig.class, "testsvc", two, Map.of()))
                .hasMessageContaining("not valid YAML");
    }

    private Path write(String yaml) throws IOException {
        Path f = Files.createTempFile(dir, "config", ".yaml");
        Files.writeString(f, yaml);
        return f;
    }
}
