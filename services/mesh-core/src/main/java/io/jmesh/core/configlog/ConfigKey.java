package io.jmesh.core.configlog;

import io.jmesh.proto.config.v1.ConfigRecord;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The config-log key of one object: {@code kind/namespace/name}; cluster-scoped kinds have an empty namespace
 * ({@code Namespace//default}).
 */
public record ConfigKey(String kind, String namespace, String name) implements Comparable<ConfigKey> {

    public ConfigKey {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(name, "name");
        if (kind.isEmpty() || kind.contains("/")) {
            throw new IllegalArgumentException("kind: '" + kind + "' (expected: non-empty, no '/')");
        }
        if (namespace.contains("/")) {
            throw new IllegalArgumentException("namespace: '" + namespace + "' (expected: no '/')");
        }
        if (name.isEmpty() || name.contains("/")) {
            throw new IllegalArgumentException("name: '" + name + "' (expected: non-empty, no '/')");
        }
    }

    public static ConfigKey of(ConfigRecord record) {
        return new ConfigKey(record.getKind(), record.getMetadata().getNamespace(), record.getMetadata().getName());
    }

    /** Parses {@code kind/namespace/name}. */
    public static ConfigKey parse(String key) {
        String[] parts = key.split("/", -1);
        if (parts.length != 3) {
            throw new IllegalArgumentException("config key: '" + key + "' (expected: kind/namespace/name)");
        }
        return new ConfigKey(parts[0], parts[1], parts[2]);
    }

    public static ConfigKey parse(byte[] key) {
        if (key == null) {
            throw new IllegalArgumentException("config key: missing (expected: kind/namespace/name)");
        }
        return parse(new String(key, StandardCharsets.UTF_8));
    }

    public byte[] bytes() {
        return toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return kind + "/" + namespace + "/" + name;
    }

    @Override
    public int compareTo(ConfigKey o) {
        int c = kind.compareTo(o.kind);
        if (c == 0) {
            c = namespace.compareTo(o.namespace);
        }
        return c == 0 ? name.compareTo(o.name) : c;
    }
}
