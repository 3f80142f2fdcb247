package io.jmesh.core.config;

import java.io.StringReader;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.composer.Composer;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * One YAML document as a plain tree: {@code Map<String, Object>} (insertion-ordered), {@code List<Object>},
 * {@code String}, {@code Long}, {@code Boolean} and {@code null}.
 *
 * <p>Plain scalars are typed by YAML 1.2's core rules, narrowed: {@code true}/{@code false}, {@code null}/{@code ~}/
 * empty, and decimal integers without leading zeros become Boolean, null and Long; everything else (floats,
 * {@code 010}, {@code yes}, dates) stays the text it was written as, so a string field never sees a value
 * rewritten by a resolver. Quoted scalars are always strings.
 *
 * <p>Read with SnakeYAML's node composer alone: configuration and local-mode files load without an object
 * mapper (Jackson databind and its YAML module cost ztunnel ~500 loaded classes and 5-10 MiB of RSS).
 */
public final class YamlTree {

    private static final Pattern INTEGER = Pattern.compile("[-+]?(0|[1-9][0-9]*)");
    private static final Pattern NULL = Pattern.compile("null|Null|NULL|~|");
    private static final Pattern BOOLEAN = Pattern.compile("true|True|TRUE|false|False|FALSE");

    private YamlTree() {}

    /**
     * Parses one document; {@code null} for an empty one.
     *
     * @throws IllegalArgumentException "not valid YAML: ..." with the parser's line and column
     */
    public static Object parse(String text) {
        // the composer alone: the Yaml facade builds a representer that needs java.beans (java.desktop), a
        // module the services' jlink'ed runtimes leave out
        LoaderOptions options = new LoaderOptions();
        Node root;
        try {
            root = new Composer(new ParserImpl(new StreamReader(new StringReader(text)), options), new Resolver(),
                    options).getSingleNode();
        } catch (YAMLException e) {
            throw new IllegalArgumentException("not valid YAML: " + e.getMessage().strip(), e);
        }
        return root == null ? null : toTree(root);
    }

    /** What a tree value is, for messages: "a mapping", "a list", "a string", ... */
    public static String kind(Object value) {
        if (value instanceof Map<?, ?>) {
            return "a mapping";
        }
        if (value instanceof List<?>) {
            return "a list";
        }
        if (value instanceof Long) {
            return "an integer";
        }
        if (value instanceof Boolean) {
            return "a boolean";
        }
        return value == null ? "null" : "a string";
    }

    private static Object toTree(Node node) {
        if (node instanceof MappingNode m) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (NodeTuple t : m.getValue()) {
                if (!(t.getKeyNode() instanceof ScalarNode key)) {
                    throw new IllegalArgumentException("not valid YAML: a mapping key must be a plain value "
                            + t.getKeyNode().getStartMark());
                }
                if (out.containsKey(key.getValue())) {
                    throw new IllegalArgumentException("not valid YAML: duplicate key '" + key.getValue() + "'"
                            + key.getStartMark());
                }
                out.put(key.getValue(), toTree(t.getValueNode()));
            }
            return out;
        }
        if (node instanceof SequenceNode s) {
            List<Object> out = new ArrayList<>(s.getValue().size());
            for (Node n : s.getValue()) {
                out.add(toTree(n));
            }
            return out;
        }
        ScalarNode scalar = (ScalarNode) node;
        String text = scalar.getValue();
        if (!scalar.isPlain()) {
            return text;
        }
        return scalar(text);
    }

    /** A plain scalar's value by the rules above. */
    static Object scalar(String text) {
        if (NULL.matcher(text).matches()) {
            return null;
        }
        if (BOOLEAN.matcher(text).matches()) {
            return Boolean.valueOf(text.toLowerCase(Locale.ROOT));
        }
        if (INTEGER.matcher(text).matches() && text.length() < 19) {
            return Long.valueOf(text);
        }
        return text;
    }
}
