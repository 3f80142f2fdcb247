package io.jmesh.loadtest.ztunnel;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.Map;

/**
 * A ztunnel configuration file from YAML layers, each later one merged into the ones before, section by section: a
 * bench's base, a run's {@code -Dbench.ztunnel.config}, then a path's own settings. Written one after the other they
 * would repeat a section ({@code hbone:} twice), which ztunnel refuses as YAML with a duplicate key.
 */
final class ConfigLayers {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private ConfigLayers() {}

    static String merge(String... layers) {
        ObjectNode merged = YAML.createObjectNode();
        for (String layer : layers) {
            if (layer == null || layer.isBlank()) {
                continue;
            }
            try {
                JsonNode node = YAML.readTree(layer);
                if (!(node instanceof ObjectNode map)) {
                    throw new IllegalArgumentException("not a YAML mapping: " + layer);
                }
                into(merged, map);
            } catch (IOException e) {
                throw new UncheckedIOException("not valid YAML: " + layer, e);
            }
        }
        try {
            return YAML.writeValueAsString(merged);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Merges {@code from} into {@code to}: mappings key by key, anything else replaced. */
    private static void into(ObjectNode to, ObjectNode from) {
        for (Iterator<Map.Entry<String, JsonNode>> it = from.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue() instanceof ObjectNode inner && to.get(e.getKey()) instanceof ObjectNode existing) {
                into(existing, inner);
            } else {
                to.set(e.getKey(), e.getValue().deepCopy());
            }
        }
    }
}
