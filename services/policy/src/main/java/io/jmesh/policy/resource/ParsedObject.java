package io.jmesh.policy.resource;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.proto.config.v1.ConfigRecord;
import java.util.List;

/**
 * One manifest document after validation: either a {@link ConfigRecord} ready for the config log (maybe with
 * warnings), or the errors that reject it whole.
 *
 * @param documentIndex position of the document in its manifest, from 0
 * @param kind the kind, as far as the document tells (may be empty)
 * @param namespace the namespace, as far as the document tells (may be empty)
 * @param name the name, as far as the document tells (may be empty)
 * @param record the record to write; null when rejected
 */
public record ParsedObject(int documentIndex, String kind, String namespace, String name, ConfigRecord record,
        List<Problems.FieldError> errors, List<String> warnings) {

    public boolean accepted() {
        return record != null;
    }

    public ConfigKey key() {
        return ConfigKey.of(record);
    }

    /** {@code kind/namespace/name} as far as known, for messages. */
    public String describe() {
        return (kind.isEmpty() ? "?" : kind) + "/" + namespace + "/" + (name.isEmpty() ? "?" : name);
    }
}
