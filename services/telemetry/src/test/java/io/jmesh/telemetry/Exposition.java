package io.jmesh.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The Istio counters of a Prometheus text exposition, as a scraper sees them. */
public final class Exposition {

    private Exposition() {}

    /** Every {@code istio_*_total} and histogram {@code _count} sample: its name with labels, and its value. */
    public static Map<String, Double> samples(String exposition) {
        Map<String, Double> samples = new LinkedHashMap<>();
        for (String line : exposition.split("\n")) {
            if (line.startsWith("istio_") && !line.contains("_bucket{")
                    && (line.contains("_total{") || line.contains("_count{"))) {
                int space = line.lastIndexOf(' ');
                samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
            }
        }
        return samples;
    }

    /** The same, from a collector written as Prometheus text. */
    public static Map<String, Double> samples(MultiCollector collector) {
        PrometheusRegistry r = new PrometheusRegistry();
        r.register(collector);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ExpositionFormats.init().getPrometheusTextFormatWriter().write(out, r.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return samples(out.toString(StandardCharsets.UTF_8));
    }

    /** Fails naming every sample served in both that is lower in {@code after}: a counter that went backwards. */
    public static void assertNoneDecreased(Map<String, Double> before, Map<String, Double> after) {
        List<String> backwards = new ArrayList<>();
        before.forEach((series, was) -> {
            Double now = after.get(series);
            if (now != null && now < was) {
                backwards.add(series + " went from " + was + " to " + now);
            }
        });
        assertThat(backwards).as("served counters that went backwards (Prometheus reads a reset)").isEmpty();
    }
}
