package io.jmesh.loadtest.ztunnel;

import io.jmesh.core.config.YamlTree;
import io.vertx.core.json.JsonObject;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A ztunnel configuration file from YAML layers, each later one merged into the ones before, section by section (as
 * ztunnel merges its file over its defaults): a bench's base, a run's {@code -Dbench.ztunnel.config}, then a path's
 * own settings. Written one after the other they would repeat a section ({@code hbone:} twice), which ztunnel refuses
 * as YAML with a duplicate key. The file is written as JSON, which YAML reads as it is.
 */
final class ConfigLayers {

    private ConfigLayers() {}

    @SuppressWarnings("unchecked")
    static String merge(String... layers) {
        Map<String, Object> merged = new LinkedHashMap<>();
        for (String layer : layers) {
            if (layer == null || layer.isBlank()) {
                continue;
            }
            Object tree;
            try {
                tree = YamlTree.parse(layer);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage() + ", in: " + layer, e);
            }
            if (!(tree instanceof Map<?, ?> map)) {
                throw new IllegalArgumentException("not a YAML mapping (" + YamlTree.kind(tree) + "): " + layer);
            }
            YamlTree.merge(merged, (Map<String, Object>) map);
        }
        return new JsonObject(merged).encodePrettily() + "\n";
    }
}
