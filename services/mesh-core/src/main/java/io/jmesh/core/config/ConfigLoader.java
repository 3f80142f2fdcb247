package io.jmesh.core.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
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

    private static final ObjectMapper YAML = newMapper();

    private ConfigLoader() {}

    /** The outcome of loading: the typed config, and the effective tree for printing. */
    public record Loaded<T>(T config, ObjectNode effective, List<String> sources, List<String> ignoredEnv) {
        /** The effective configuration as one JSON line, secrets redacted. */
        public String redactedJson() {
            return redact(effective.deepCopy()).toString();
        }
    }

    public static <T> Loaded<T> load(Class<T> type, String service, Path file, Map<String, String> env) {
        List<String> sources = new ArrayList<>();
        ObjectNode tree = readDefaults(service);
        sources.add("classpath:/" + service + "-defaults.yaml");
        if (file != null) {
            merge(tree, readFile(file), "");
            sources.add(file.toString());
        }
        List<String> ignored = applyEnv(tree, env, sources);
        return new Loaded<>(bind(tree, type, file), tree, List.copyOf(sources), ignored);
    }

    /** Binds a tree (e.g. built in a test) with the same rules and error messages as {@link #load}. */
    public static <T> T bind(JsonNode tree, Class<T> type, Path file) {
        try {
            return YAML.treeToValue(tree, type);
        } catch (UnrecognizedPropertyException e) {
            String key = path(e);
            TreeSet<String> known = new TreeSet<>();
            if (e.getKnownPropertyIds() != null) {
                e.getKnownPropertyIds().forEach(k -> known.add(String.valueOf(k)));
            }
            throw new ConfigException(where(file) + "unknown key '" + key + "' (known keys here: "
                    + String.join(", ", known) + ")");
        } catch (ValueInstantiationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            String key = path(e);
            throw new ConfigException(where(file) + (key.isEmpty() ? "" : "'" + key + "': ") + cause.getMessage(), e);
        } catch (InvalidFormatException e) {
            throw new ConfigException(where(file) + "'" + path(e) + "': cannot read '" + e.getValue() + "' as "
                    + simpleType(e.getTargetType()), e);
        } catch (MismatchedInputException e) {
            throw new ConfigException(where(file) + "'" + path(e) + "': wrong shape (expected: "
                    + simpleType(e.getTargetType()) + ")", e);
        } catch (JsonMappingException e) {
            Throwable cause = e.getCause() instanceof IllegalArgumentException iae ? iae : e;
            throw new ConfigException(where(file) + "'" + path(e) + "': " + cause.getMessage(), e);
        } catch (JsonProcessingException e) {
            throw new ConfigException(where(file) + e.getOriginalMessage(), e);
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

    private static ObjectNode readDefaults(String service) {
        String resource = "/" + service + "-defaults.yaml";
        try (InputStream in = ConfigLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new ConfigException("missing built-in defaults " + resource + " (a packaging error)");
            }
            JsonNode node = YAML.readTree(in);
            if (!(node instanceof ObjectNode obj)) {
                throw new ConfigException(resource + ": expected a mapping at the top level");
            }
            return obj;
        } catch (IOException e) {
            throw new ConfigException(resource + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode readFile(Path file) {
        try {
            JsonNode node = YAML.readTree(Files.readString(file));
            if (node == null || node.isMissingNode() || node.isNull()) {
                return JsonNodeFactory.instance.objectNode();
            }
            if (!node.isObject()) {
                throw new ConfigException(file + ": expected a mapping at the top level, found " + node.getNodeType());
            }
            return node;
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": no such file");
        } catch (JsonProcessingException e) {
            throw new ConfigException(file + ": not valid YAML: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new ConfigException(file + ": " + e.getMessage(), e);
        }
    }

    /** Deep merge: mappings merge key by key, anything else replaces. */
    private static void merge(ObjectNode into, JsonNode from, String prefix) {
        Iterator<Map.Entry<String, JsonNode>> it = from.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode existing = into.get(e.getKey());
            if (existing instanceof ObjectNode target && e.getValue().isObject()) {
                merge(target, e.getValue(), prefix + e.getKey() + ".");
            } else {
                into.set(e.getKey(), e.getValue());
            }
        }
    }

    private static List<String> applyEnv(ObjectNode tree, Map<String, String> env, List<String> sources) {
        Map<String, Leaf> leaves = new LinkedHashMap<>();
        collectLeaves(tree, "", leaves);
        List<String> used = new ArrayList<>();
        for (Map.Entry<String, Leaf> e : leaves.entrySet()) {
            String value = env.get(e.getKey());
            if (value != null) {
                e.getValue().parent.set(e.getValue().field, parseScalar(value));
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

    private record Leaf(ObjectNode parent, String field) {}

    private static void collectLeaves(ObjectNode node, String prefix, Map<String, Leaf> out) {
        Iterator<Map.Entry<String, JsonNode>> it = node.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = prefix + e.getKey();
            if (e.getValue() instanceof ObjectNode child && child.size() > 0) {
                collectLeaves(child, path + ".", out);
            } else {
                out.put(envName(path), new Leaf(node, e.getKey()));
            }
        }
    }

    private static JsonNode parseScalar(String value) {
        try {
            JsonNode n = YAML.readTree(value);
            return n == null || n.isMissingNode() ? TextNode.valueOf(value) : n;
        } catch (JsonProcessingException e) {
            return TextNode.valueOf(value);
        }
    }

    private static JsonNode redact(JsonNode node) {
        if (node instanceof ObjectNode obj) {
            Iterator<Map.Entry<String, JsonNode>> it = obj.fields();
            List<String> secrets = new ArrayList<>();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                if (SECRET_KEY.matcher(e.getKey()).matches() && e.getValue().isValueNode()
                        && !e.getValue().isNull() && !e.getValue().asText().isEmpty()) {
                    secrets.add(e.getKey());
                } else {
                    redact(e.getValue());
                }
            }
            secrets.forEach(k -> obj.put(k, REDACTED));
        } else if (node instanceof ArrayNode arr) {
            arr.forEach(ConfigLoader::redact);
        }
        return node;
    }

    private static String path(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                sb.append('[').append(ref.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    private static String where(Path file) {
        return file == null ? "config: " : file + ": ";
    }

    private static String simpleType(Class<?> type) {
        if (type == null) {
            return "a value";
        }
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class) {
            return "an integer";
        }
        if (type == boolean.class || type == Boolean.class) {
            return "true or false";
        }
        if (type == Duration.class) {
            return "a duration such as 10s";
        }
        if (type.isEnum()) {
            StringBuilder sb = new StringBuilder("one of ");
            Object[] values = type.getEnumConstants();
            for (int i = 0; i < values.length; i++) {
                sb.append(i == 0 ? "" : ", ").append(values[i]);
            }
            return sb.toString();
        }
        if (List.class.isAssignableFrom(type)) {
            return "a list";
        }
        if (Map.class.isAssignableFrom(type) || type.isRecord()) {
            return "a mapping";
        }
        return type.getSimpleName();
    }

    private static ObjectMapper newMapper() {
        SimpleModule durations = new SimpleModule("durations");
        durations.addDeserializer(Duration.class, new JsonDeserializer<>() {
            @Override
            public Duration deserialize(JsonParser p, DeserializationContext ctx) throws IOException {
                if (p.currentToken().isNumeric()) {
                    return Duration.ofSeconds(p.getLongValue());
                }
                try {
                    return Durations.parse(p.getValueAsString());
                } catch (IllegalArgumentException e) {
                    throw InvalidFormatException.from(p, e.getMessage(), p.getValueAsString(), Duration.class);
                }
            }
        });
        return YAMLMapper.builder()
                .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
                .build()
                .registerModule(durations)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY);
    }
}
