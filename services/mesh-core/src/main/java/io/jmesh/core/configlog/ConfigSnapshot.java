package io.jmesh.core.configlog;

import io.jmesh.proto.config.v1.ConfigRecord;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The materialized state of the config log at one point: every live object by key, and the log position it
 * reflects. Immutable; a new snapshot replaces the old one whole.
 *
 * @param records live objects, sorted by key
 * @param offsets the next offset to read per partition (so two replicas at equal offsets hold equal state)
 */
public record ConfigSnapshot(NavigableMap<ConfigKey, ConfigRecord> records, Map<Integer, Long> offsets) {

    public static final ConfigSnapshot EMPTY = new ConfigSnapshot(new TreeMap<>(), Map.of());

    public ConfigSnapshot {
        records = Collections.unmodifiableNavigableMap(new TreeMap<>(records));
        offsets = Map.copyOf(offsets);
    }

    public ConfigRecord get(ConfigKey key) {
        return records.get(key);
    }

    /** Every live object of one kind, sorted by namespace and name. */
    public List<ConfigRecord> ofKind(String kind) {
        return List.copyOf(records.subMap(new ConfigKey(kind, "", "\u0000"), true,
                new ConfigKey(kind, "\uffff", "\uffff"), true).values());
    }

    public int size() {
        return records.size();
    }
}
