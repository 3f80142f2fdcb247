package io.jmesh.core.config;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Loads a service's configuration: the defaults shipped in the jar ({@code /<service>-defaults.yaml}), then the
 * operator's YAML file merged over them, then environment overrides, bound to an immutable record tree.
 *
 * <p>Every leaf key has an environment variable: {@code MESH_} plus its path in upper snake case
 * ({@code admin.port} → {@code MESH_ADMIN_PORT}, {@code hbone.streamWindowBytes} →
 * {@code MESH_HBONE_STREAM_WINDOW_BYTES}). Values are read as YAML scalars, so {@code 15008}, {@code true} and
 * {@code [a, b]} keep their types.
 *
 * <p>Errors are precise: an unknown key names the key and the known ones; a bad value names the key, the
 * value and the expected type; a record constructor's {@link IllegalArgumentException} message is reported with
 * the key it belongs to.
 */
public final class ConfigLoader {

    public static final String ENV_PREFIX = "MESH_";
    /** Environment variable naming the config file when {@code --config} is not given. */
    public static final String ENV_CONFIG_FILE = "MESH_CONFIG";

    private static final Pattern SECRET_KEY = Pattern.compile("(?i).*(token|password|secret|key|keypem)$");
    private static final String REDACTED = "<redacted>";

    private ConfigLoader() {}

    /** The outcome of loading: the typed config, and the effective tree for printing. */
    public record Loaded<T>(T config, JsonObject effective, List<String> sources, List<String> ignoredEnv) {
        /** The effective configuration as one JSON line, secrets redacted. */
        public String redactedJson() {
            JsonObject copy = effective.copy();
            redact(copy);
            return copy.encode();
        }
    }

    public static <T> Loaded<T> load(Class<T> type, String service, Path file, Map<String, String> env) {
        List<String> sources = new ArrayList<>();
        Map<String, Object> tree = readDefaults(service);
        sources.add("classpath:/" + service + "-defaults.yaml");
        if (file != null) {
            YamlTree.merge(tree, readFile(file));
            sources.add(file.toString());
        }
        List<String> ignored = applyEnv(tree, env, sources);
        return new Loaded<>(bind(tree, type, file), new JsonObject(tree), List.copyOf(sources), ignored);
    }

    /** Binds a tree (e.g. built in a test) with the same rules and error messages as {@link #load}. */
    public static <T> T bind(Map<String, Object> tree, Class<T> type, Path file) {
        try {
            return RecordBinder.bind(tree, type);
        } catch (RecordBinder.BindException e) {
            throw new ConfigException(where(file) + e.getMessage(), e.getCause() != null ? e.getCause() : e);
        }
    }

    /** The environment variable that overrides {@code dottedPath}. */
    public static String envName(String dottedPath) {
        StringBuilder sb = new StringBuilder(ENV_PREFIX);
        for (int i = 0; i < dottedPath.length(); i++) {
            char c = dottedPath.charAt(i);
            if (c == '.' || c == '-') {
                sb.append('_');
            } else if (Character.isUpperCase(c)) {
                sb.append('_').append(c);
            } else {
                sb.append(Character.toUpperCase(c));
            }
        }
        return sb.toString();
    }

    private static Map<String, Object> readDefaults(String service) {
        String resource = "/" + service + "-defaults.yaml";
        try (InputStream in = ConfigLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new ConfigException("missing built-in defaults " + resource + " (a packaging error)");
            }
            return mapping(YamlTree.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8)), resource);
        } catch (IllegalArgumentException | IOException e) {
            throw new ConfigException(resource + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, Object> readFile(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": no such file");
        } catch (CharacterCodingException e) {
            throw new ConfigException(file + ": not UTF-8 text (expected: a YAML file in UTF-8)", e);
        } catch (IOException e) {
            throw new ConfigException(file + ": " + e.getMessage(), e);
        }
        try {
            Object root = YamlTree.parse(text);
            return root == null ? new LinkedHashMap<>() : mapping(root, file.toString());
        } catch (IllegalArgumentException e) {
            throw new ConfigException(file + ": " + e.getMessage(), e);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> mapping(Object root, String source) {
        if (!(root instanceof Map<?, ?>)) {
            throw new ConfigException(source + ": expected a mapping at the top level, found " + YamlTree.kind(root));
        }
        return (Map<String, Object>) root;
    }

    private static List<String> applyEnv(Map<String, Object> tree, Map<String, String> env, List<String> sources) {
        Map<String, Leaf> leaves = new LinkedHashMap<>();
        collectLeaves(tree, "", leaves);
        List<String> used = new ArrayList<>();
        for (Map.Entry<String, Leaf> e : leaves.entrySet()) {
            String value = env.get(e.getKey());
            if (value != null) {
                e.getValue().parent.put(e.getValue().field, parseScalar(value));
                used.add(e.getKey());
            }
        }
        if (!used.isEmpty()) {
            sources.add("env:" + String.join(",", used));
        }
        return env.keySet().stream()
                .filter(k -> k.startsWith(ENV_PREFIX) && !k.equals(ENV_CONFIG_FILE) && !leaves.containsKey(k))
                .sorted()
                .collect(Collectors.toList());
    }

    private record Leaf(Map<String, Object> parent, String field) {}

    @SuppressWarnings("unchecked")
    private static void collectLeaves(Map<String, Object> node, String prefix, Map<String, Leaf> out) {
        for (Map.Entry<String, Object> e : node.entrySet()) {
            String path = prefix + e.getKey();
            if (e.getValue() instanceof Map<?, ?> child && !child.isEmpty()) {
                collectLeaves((Map<String, Object>) child, path + ".", out);
            } else {
                out.put(envName(path), new Leaf(node, e.getKey()));
            }
        }
    }

    /** An environment value read as YAML ({@code 15008}, {@code true}, {@code [a, b]}), else as its text. */
    private static Object parseScalar(String value) {
        if (value.isBlank()) {
            return value;
        }
        try {
            return YamlTree.parse(value);
        } catch (IllegalArgumentException e) {
            return value;
        }
    }

    private static Object redact(Object node) {
        if (node instanceof JsonObject obj) {
            List<String> secrets = new ArrayList<>();
            for (Map.Entry<String, Object> e : obj) {
                Object v = e.getValue();
                if (SECRET_KEY.matcher(e.getKey()).matches() && v != null && !(v instanceof JsonObject)
                        && !(v instanceof JsonArray) && !String.valueOf(v).isEmpty()) {
                    secrets.add(e.getKey());
                } else {
                    redact(v);
                }
            }
            secrets.forEach(k -> obj.put(k, REDACTED));
        } else if (node instanceof JsonArray arr) {
            arr.forEach(ConfigLoader::redact);
        }
        return node;
    }

    private static String where(Path file) {
        return file == null ? "config: " : file + ": ";
    }
}
