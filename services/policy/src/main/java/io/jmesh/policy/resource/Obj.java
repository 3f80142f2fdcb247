package io.jmesh.policy.resource;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A YAML mapping being read field by field: each accessor reports a wrong type at the field's path, and
 * {@link #finish()} reports every field nobody asked for, so a typo is an error rather than a silent no-op.
 */
final class Obj {

    private final JsonNode node;
    private final String path;
    private final Problems problems;
    private final Set<String> seen = new HashSet<>();

    private Obj(JsonNode node, String path, Problems problems) {
        this.node = node;
        this.path = path;
        this.problems = problems;
    }

    /** Null (and an error) unless {@code node} is a mapping. */
    static Obj of(JsonNode node, String path, Problems problems) {
        if (node == null || !node.isObject()) {
            problems.error(path, "expected a mapping, got " + kind(node));
            return null;
        }
        return new Obj(node, path, problems);
    }

    String path() {
        return path;
    }

    String at(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    Problems problems() {
        return problems;
    }

    boolean has(String key) {
        seen.add(key);
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    /** Marks {@code key} as known without reading it (fields accepted and ignored). */
    boolean ignore(String key) {
        seen.add(key);
        return node.has(key);
    }

    JsonNode raw(String key) {
        seen.add(key);
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? null : v;
    }

    String string(String key) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        if (!v.isValueNode() || v.isBinary()) {
            problems.error(at(key), "expected a string, got " + kind(v));
            return null;
        }
        return v.asText();
    }

    String requiredString(String key) {
        String s = string(key);
        if (s == null && raw(key) == null) {
            problems.error(at(key), "required");
        } else if (s != null && s.isEmpty()) {
            problems.error(at(key), "must not be empty");
            return null;
        }
        return s;
    }

    /** A boolean, or null (with an error when present but not a boolean). */
    Boolean bool(String key) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        if (!v.isBoolean()) {
            problems.error(at(key), "expected a boolean, got " + kind(v));
            return null;
        }
        return v.booleanValue();
    }

    /** An integer in [min, max], or null (with an error when present but wrong). */
    Long integer(String key, long min, long max) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        return integer(v, at(key), min, max, problems);
    }

    static Long integer(JsonNode v, String path, long min, long max, Problems problems) {
        long value;
        if (v.isIntegralNumber()) {
            if (!v.canConvertToLong()) {
                // beyond 64 bits (a BigInteger): asLong() would wrap it into a different, maybe valid, number
                problems.error(path, v.asText() + " is out of range (expected: " + min + "-" + max + ")");
                return null;
            }
            value = v.asLong();
        } else if (v.isTextual() && v.asText().matches("-?[0-9]{1,18}")) {
            value = Long.parseLong(v.asText());
        } else {
            problems.error(path, "expected an integer, got " + kind(v));
            return null;
        }
        if (value < min || value > max) {
            problems.error(path, value + " is out of range (expected: " + min + "-" + max + ")");
            return null;
        }
        return value;
    }

    Obj object(String key) {
        JsonNode v = raw(key);
        return v == null ? null : of(v, at(key), problems);
    }

    /** Items of a list (each with its {@code path[i]}); empty when absent. */
    List<Item> list(String key) {
        JsonNode v = raw(key);
        List<Item> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (!v.isArray()) {
            problems.error(at(key), "expected a list, got " + kind(v));
            return out;
        }
        for (int i = 0; i < v.size(); i++) {
            out.add(new Item(v.get(i), at(key) + "[" + i + "]"));
        }
        return out;
    }

    /** A list of strings; empty when absent. Wrong items are reported and left out. */
    List<String> strings(String key) {
        List<String> out = new ArrayList<>();
        for (Item item : list(key)) {
            if (item.node().isValueNode() && !item.node().isNull()) {
                out.add(item.node().asText());
            } else {
                problems.error(item.path(), "expected a string, got " + kind(item.node()));
            }
        }
        return out;
    }

    /** A string-to-string mapping (labels, selectors); empty when absent. */
    Map<String, String> stringMap(String key) {
        JsonNode v = raw(key);
        Map<String, String> out = new LinkedHashMap<>();
        if (v == null) {
            return out;
        }
        if (!v.isObject()) {
            problems.error(at(key), "expected a mapping, got " + kind(v));
            return out;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isValueNode() || e.getValue().isNull()) {
                problems.error(at(key) + "." + e.getKey(), "expected a string, got " + kind(e.getValue()));
            } else {
                out.put(e.getKey(), e.getValue().asText());
            }
        }
        return out;
    }

    /** Entries of a mapping as (key, node, path). */
    List<Entry> entries(String key) {
        JsonNode v = raw(key);
        List<Entry> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (!v.isObject()) {
            problems.error(at(key), "expected a mapping, got " + kind(v));
            return out;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.add(new Entry(e.getKey(), e.getValue(), at(key) + "." + e.getKey()));
        }
        return out;
    }

    /** Reports every field that no accessor touched. */
    void finish() {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!seen.contains(f)) {
                // an empty key is named as written, so the error still has a path (empty means the document)
                problems.error(at(f.isEmpty() ? "\"\"" : f), "unknown field");
            }
        }
    }

    record Item(JsonNode node, String path) {
        Obj obj(Problems problems) {
            return Obj.of(node, path, problems);
        }
    }

    record Entry(String key, JsonNode node, String path) {}

    static String kind(JsonNode n) {
        if (n == null || n.isNull()) {
            return "nothing";
        }
        if (n.isObject()) {
            return "a mapping";
        }
        if (n.isArray()) {
            return "a list";
        }
        if (n.isBoolean()) {
            return "a boolean";
        }
        if (n.isNumber()) {
            return "a number";
        }
        return "'" + n.asText() + "'";
    }
}
