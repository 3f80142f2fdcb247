package io.jmesh.core.config;

import java.io.StringReader;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
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
 * <p>Anchors and aliases are expanded, within bounds: an alias of a collection that contains it (a cycle) is
 * refused, and so is a document whose aliases expand to more than {@value #MAX_ALIAS_EXPANSION} nodes ("billion
 * laughs"); SnakeYAML itself allows at most 50 aliases of collections, which is enough for 2^25 nodes.
 *
 * <p>Read with SnakeYAML's node composer alone: configuration and local-mode files load without an object
 * mapper (Jackson databind and its YAML module cost ztunnel ~500 loaded classes and 5-10 MiB of RSS).
 */
public final class YamlTree {

    private static final Pattern INTEGER = Pattern.compile("[-+]?(0|[1-9][0-9]*)");
    private static final Pattern NULL = Pattern.compile("null|Null|NULL|~|");
    private static final Pattern BOOLEAN = Pattern.compile("true|True|TRUE|false|False|FALSE");

    /** The most nodes that aliases may add to a document by repeating what they refer to. */
    static final int MAX_ALIAS_EXPANSION = 100_000;

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
        } catch (IllegalArgumentException e) {
            // SnakeYAML's scanner lets a few number errors through unwrapped: a unicode escape cut short or
            // beyond Unicode, a %YAML version number too large for an int
            throw new IllegalArgumentException("not valid YAML: an escape sequence or %YAML version that is not a"
                    + " number in range (" + e.getMessage() + ")", e);
        }
        return root == null ? null : new Expansion().toTree(root);
    }

    /** Deep merge of {@code from} into {@code into}: mappings merge key by key, anything else replaces. */
    @SuppressWarnings("unchecked")
    public static void merge(Map<String, Object> into, Map<String, Object> from) {
        for (Map.Entry<String, Object> e : from.entrySet()) {
            Object existing = into.get(e.getKey());
            if (existing instanceof Map<?, ?> target && e.getValue() instanceof Map<?, ?> value) {
                merge((Map<String, Object>) target, (Map<String, Object>) value);
            } else {
                into.put(e.getKey(), e.getValue());
            }
        }
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

    /**
     * One document's conversion. The composer shares the node of an anchor with each of its aliases, so a node
     * seen before is an alias being expanded: those visits are counted, and a collection met again inside itself
     * is a cycle.
     */
    private static final class Expansion {
        private final Set<Node> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        private final Set<Node> open = Collections.newSetFromMap(new IdentityHashMap<>());
        private int repeated;

        Object toTree(Node node) {
            if (!seen.add(node) && ++repeated > MAX_ALIAS_EXPANSION) {
                throw new IllegalArgumentException("not valid YAML: aliases expand to more than "
                        + MAX_ALIAS_EXPANSION + " nodes (expected: anchors reused a reasonable number of times)"
                        + node.getStartMark());
            }
            if (node instanceof ScalarNode scalar) {
                return scalar.isPlain() ? scalar(scalar.getValue()) : scalar.getValue();
            }
            if (!open.add(node)) {
                throw new IllegalArgumentException("not valid YAML: an alias inside the collection it refers to"
                        + " (expected: no cycles)" + node.getStartMark());
            }
            try {
                return node instanceof MappingNode m ? mapping(m) : sequence((SequenceNode) node);
            } finally {
                open.remove(node);
            }
        }

        private Map<String, Object> mapping(MappingNode m) {
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

        private List<Object> sequence(SequenceNode s) {
            List<Object> out = new ArrayList<>(s.getValue().size());
            for (Node n : s.getValue()) {
                out.add(toTree(n));
            }
            return out;
        }
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
