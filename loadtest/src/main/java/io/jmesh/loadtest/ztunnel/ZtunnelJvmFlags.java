package io.jmesh.loadtest.ztunnel;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.jmesh.loadtest.BenchContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/**
 * ztunnel's JVM flags as the Helm chart sets them. A class of its own so that {@link Topology}, which the lab's
 * probe JVMs load with only the load generator on their class path, never needs Jackson.
 */
final class ZtunnelJvmFlags {

    private ZtunnelJvmFlags() {}

    /**
     * Where the ztunnel JVM flags come from: the Helm chart's {@code javaOptions} (and {@code mallocArenaMax}), so
     * the figures are measured with exactly what a deployment runs (docs/ztunnel.md, "Memory and CPU").
     */
    static final String CHART_VALUES = "charts/jmesh/charts/ztunnel/values.yaml";

    /** The chart's ztunnel {@code javaOptions}, split into arguments. */
    static List<String> of(BenchContext ctx) {
        String opts = chartValue(ctx, "javaOptions").trim();
        return opts.isEmpty() ? List.of() : List.of(opts.split("\\s+"));
    }

    /** The chart's ztunnel {@code mallocArenaMax}: glibc's MALLOC_ARENA_MAX for the ztunnel processes. */
    static String mallocArenaMax(BenchContext ctx) {
        return chartValue(ctx, "mallocArenaMax");
    }

    private static String chartValue(BenchContext ctx, String key) {
        Path values = ctx.repo().resolve(CHART_VALUES);
        try {
            JsonNode v = new ObjectMapper(new YAMLFactory()).readTree(values.toFile()).path(key);
            if (v.isMissingNode() || v.isNull()) {
                throw new IllegalStateException(values + ": no " + key);
            }
            return v.asText();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + values, e);
        }
    }
}
