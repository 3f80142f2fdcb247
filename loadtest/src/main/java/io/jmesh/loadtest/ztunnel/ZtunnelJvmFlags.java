package io.jmesh.loadtest.ztunnel;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.jmesh.loadtest.BenchContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

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

    /** The chart's JVM profiles, its {@code footprint} value: each names where its flags are in the values. */
    enum Footprint {
        /** {@code javaOptions} and {@code mallocArenaMax}: the C2 JIT, the least CPU per request. */
        DEFAULT(""),
        /** {@code smallFootprint.javaOptions} and {@code smallFootprint.mallocArenaMax}: the least memory. */
        SMALL("smallFootprint");

        private final String valuesKey;

        Footprint(String valuesKey) {
            this.valuesKey = valuesKey;
        }

        /**
         * The profile the benchmarks' ztunnels run unless a scenario picks one: {@code -Dbench.ztunnel.footprint}
         * ({@code default} or {@code small}), as the chart's {@code ztunnel.footprint}.
         */
        static Footprint selected() {
            String v = System.getProperty("bench.ztunnel.footprint", "default").trim();
            try {
                return valueOf(v.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bench.ztunnel.footprint: '" + v
                        + "' is neither 'default' nor 'small'", e);
            }
        }

        /** The chart value the flags are quoted from, for the results' notes. */
        String javaOptionsKey() {
            return valuesKey.isEmpty() ? "javaOptions" : valuesKey + ".javaOptions";
        }
    }

    /** The JVM flags of the profile the benchmarks run by default ({@link Footprint#selected()}). */
    static List<String> of(BenchContext ctx) {
        return of(ctx, Footprint.selected());
    }

    /** The chart's {@code javaOptions} of {@code footprint}, split into arguments. */
    static List<String> of(BenchContext ctx, Footprint footprint) {
        String opts = chartValue(ctx, footprint, "javaOptions").trim();
        return opts.isEmpty() ? List.of() : List.of(opts.split("\\s+"));
    }

    /**
     * The flags of the selected profile for a results note, naming the chart value they come from: "(the chart's
     * javaOptions: -XX:...".
     */
    static String quoted(BenchContext ctx) {
        Footprint footprint = Footprint.selected();
        return "the chart's " + footprint.javaOptionsKey() + ": " + String.join(" ", of(ctx, footprint));
    }

    /** glibc's MALLOC_ARENA_MAX for the selected profile's ztunnel processes. */
    static String mallocArenaMax(BenchContext ctx) {
        return mallocArenaMax(ctx, Footprint.selected());
    }

    /** The chart's {@code mallocArenaMax} of {@code footprint}: glibc's MALLOC_ARENA_MAX for ztunnel. */
    static String mallocArenaMax(BenchContext ctx, Footprint footprint) {
        return chartValue(ctx, footprint, "mallocArenaMax");
    }

    private static String chartValue(BenchContext ctx, Footprint footprint, String key) {
        Path values = ctx.repo().resolve(CHART_VALUES);
        try {
            JsonNode root = new ObjectMapper(new YAMLFactory()).readTree(values.toFile());
            JsonNode v = (footprint.valuesKey.isEmpty() ? root : root.path(footprint.valuesKey)).path(key);
            if (v.isMissingNode() || v.isNull()) {
                throw new IllegalStateException(values + ": no " + (footprint.valuesKey.isEmpty() ? ""
                        : footprint.valuesKey + ".") + key);
            }
            return v.asText();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + values, e);
        }
    }
}
