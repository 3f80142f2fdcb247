package io.jmesh.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.jmesh.core.config.ConfigLoaderTest.TestConfig;
import io.jmesh.testing.fuzz.Fuzzer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Configuration loading against mutated input: a service's YAML file over its defaults ({@link ConfigLoader#load},
 * {@code testsvc} with {@link ConfigLoaderTest}'s records), a {@code MESH_*} environment value, and a tree bound to
 * a record with every component type {@link RecordBinder} supports ({@link Wide}).
 *
 * <p>Oracle: loading either succeeds or throws a {@link ConfigException} whose message starts with the source
 * ({@code <file>: } or {@code config: }) and names the offending key ({@code 'server.port': ...},
 * {@code unknown key 'server.prot'}), or says the text is not UTF-8 / not YAML / not a mapping. Never another exception
 * (ArithmeticException, StackOverflowError, NullPointerException, ClassCastException, ...), never slower than
 * {@link YamlTreeFuzz#SLOW} for one input.
 */
@Tag("fuzz")
class ConfigLoaderFuzz {

    /** Every key path of {@link TestConfig}: a binding error must name one of them (list items with [i]). */
    static final Set<String> TEST_CONFIG_PATHS = Set.of("logLevel", "drainDeadline", "admin", "admin.host",
            "admin.port", "server", "server.port", "server.streamWindowBytes", "server.mode", "server.upstreams",
            "auth", "auth.bootstrapToken");

    @TempDir
    Path dir;

    static byte[][] fileSeeds() {
        return new byte[][] {
            YamlTreeFuzz.utf8("server:\n  port: 16000\ndrainDeadline: 250ms\n"),
            YamlTreeFuzz.utf8("logLevel: debug\nadmin: {host: 0.0.0.0, port: 0}\nserver:\n  mode: PERMISSIVE\n"
                    + "  upstreams: [x, \"y\", 'z']\n  streamWindowBytes: 1048576\n"),
            YamlTreeFuzz.utf8("server:\n  port: \"16001\"\n  upstreams: solo\nauth:\n  bootstrapToken: s3cr3t\n"),
            // boundary values: the longest duration in days, the largest port and a window beyond 32 bits
            YamlTreeFuzz.utf8("drainDeadline: 106751991167300d\nserver: {port: 65535, streamWindowBytes: 4294967296}\n"),
            YamlTreeFuzz.utf8("drainDeadline: PT1M30S\nlogLevel: 010\nserver:\n  upstreams: &u [a, b]\n"),
            YamlTreeFuzz.utf8(""),
        };
    }

    @Test
    void filesBindOrAreRejectedNamingTheKey() {
        Path file = dir.resolve("config.yaml");
        fuzz("config-file", fileSeeds(), input -> {
            Files.write(file, input);
            try {
                ConfigLoader.load(TestConfig.class, "testsvc", file, Map.of());
            } catch (ConfigException e) {
                assertNamesAKey(e, file + ": ", TEST_CONFIG_PATHS);
            }
        });
    }

    /** Where a mutated environment value goes: the input's length picks one of these variables. */
    static final List<String> ENV = List.of("MESH_LOG_LEVEL", "MESH_DRAIN_DEADLINE", "MESH_ADMIN_HOST",
            "MESH_SERVER_PORT", "MESH_SERVER_UPSTREAMS", "MESH_SERVER_MODE");

    @Test
    void environmentValuesBindOrAreRejectedNamingTheKey() {
        byte[][] seeds = {YamlTreeFuzz.utf8("17000"), YamlTreeFuzz.utf8("[x, y, z]"), YamlTreeFuzz.utf8("250ms"),
            YamlTreeFuzz.utf8("106751991167300d"),
            YamlTreeFuzz.utf8("PERMISSIVE"), YamlTreeFuzz.utf8("0.0.0.0"), YamlTreeFuzz.utf8("{a: 1}")};
        fuzz("config-env", seeds, input -> {
            String variable = ENV.get(input.length % ENV.size());
            try {
                ConfigLoader.load(TestConfig.class, "testsvc", null,
                        Map.of(variable, new String(input, StandardCharsets.UTF_8)));
            } catch (ConfigException e) {
                assertNamesAKey(e, "config: ", TEST_CONFIG_PATHS);
            }
        });
    }

    enum Level { LOW, HIGH }

    record Item(String name, int weight) {
        Item {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("name: '" + name + "' (expected: a name)");
            }
        }
    }

    /** A configuration record with one component of every type the binder supports. */
    record Wide(String text, int count, long total, short small, boolean on, Boolean maybe, Integer boxed,
            Duration timeout, Level level, List<String> names, List<Item> items, Map<String, Integer> limits,
            Map<String, Item> byName, AdminConfig admin) {}

    static final Set<String> WIDE_KEYS = Set.of("text", "count", "total", "small", "on", "maybe", "boxed",
            "timeout", "level", "names", "items", "limits", "byName", "admin");

    @Test
    void treesBindToEveryComponentTypeOrAreRejectedNamingTheKey() {
        byte[][] seeds = {YamlTreeFuzz.utf8("""
                text: hello
                count: -3
                total: 9000000000
                small: 32767
                on: true
                maybe: "false"
                boxed: 7
                timeout: 10s
                level: high
                names: [a, b]
                items: [{name: x, weight: 1}, {name: y}]
                limits: {a: 1, b: 2}
                byName: {x: {name: x, weight: 2}}
                admin: {host: localhost, port: 8080}
                """), YamlTreeFuzz.utf8("timeout: 2562047788015215h\nnames: one\nitems: {name: solo}\nlimits: {}\n"),
            YamlTreeFuzz.utf8("timeout: 500ms\nmaybe: ~\nboxed: null\nlevel: LOW\n")};
        fuzz("config-bind", seeds, input -> {
            Object tree;
            try {
                tree = YamlTree.parse(new String(input, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException notYaml) {
                return; // YamlTreeFuzz's concern
            }
            if (!(tree instanceof Map<?, ?>)) {
                return;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = (Map<String, Object>) tree;
            try {
                ConfigLoader.bind(map, Wide.class, null);
            } catch (ConfigException e) {
                assertNamesAKey(e, "config: ", null);
                String rest = e.getMessage().substring("config: ".length());
                assertThat(WIDE_KEYS).as("the top-level key named in: %s", e.getMessage())
                        .anyMatch(k -> rest.startsWith("'" + k + "'") || rest.startsWith("'" + k + ".")
                                || rest.startsWith("'" + k + "[") || rest.startsWith("unknown key '"));
            }
        });
    }

    /**
     * A binding error names a key: {@code <source>'<path>': problem} or {@code <source>unknown key '<path>' (known
     * keys here: ...)}; when {@code paths} is given, the path of a bad value is one of them (list indexes aside).
     * Whole-file problems say so: not UTF-8, not YAML, or not a mapping.
     */
    static void assertNamesAKey(ConfigException e, String source, Set<String> paths) {
        String m = e.getMessage();
        assertThat(m).startsWith(source);
        String rest = m.substring(source.length());
        if (rest.startsWith("not valid YAML: ") || rest.startsWith("expected a mapping at the top level, found ")
                || rest.startsWith("not UTF-8 text ")) {
            return;
        }
        if (rest.startsWith("unknown key '")) {
            assertThat(rest).as(m).contains("' (known keys here: ");
            return;
        }
        assertThat(rest).as("names the key").matches("(?s)'.+?': .+");
        if (paths != null) {
            String path = rest.substring(1, rest.indexOf("': ")).replaceAll("\\[\\d+]", "");
            assertThat(paths).as(m).contains(path);
        }
    }

    /** Runs one fuzzer, each input bounded by {@link YamlTreeFuzz#SLOW} and the whole run by a budget. */
    private static void fuzz(String name, byte[][] seeds, Fuzzer.Target target) {
        Supplier<Fuzzer> run = () -> Fuzzer.named(name, 2048).seeds(seeds).run(input -> {
            long start = System.nanoTime();
            target.accept(input);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time for one input")
                    .isLessThan(YamlTreeFuzz.SLOW);
        });
        assertTimeoutPreemptively(YamlTreeFuzz.budget(), run::get,
                "a fuzz input hung; replay with the printed -Dfuzz.seed");
    }
}
