package io.jmesh.ztunnel.testing;

import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** One series' value read from a registry's text exposition, the way a scraper sees it. */
public final class SeriesValue {

    private SeriesValue() {}

    /** The value of {@code series}, given as {@code name{a="x",b="y"}} in any label order; 0 when absent. */
    public static double of(PrometheusRegistry registry, String series) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ExpositionFormats.init().getPrometheusTextFormatWriter().write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String wanted = canonical(series);
        for (String line : out.toString(StandardCharsets.UTF_8).split("\n")) {
            int space = line.lastIndexOf(' ');
            if (!line.startsWith("#") && space > 0 && canonical(line.substring(0, space)).equals(wanted)) {
                return Double.parseDouble(line.substring(space + 1).trim());
            }
        }
        return 0;
    }

    private static String canonical(String series) {
        int brace = series.indexOf('{');
        if (brace < 0) {
            return series;
        }
        String[] labels = series.substring(brace + 1, series.length() - 1).split(",");
        Arrays.sort(labels);
        return series.substring(0, brace) + "{" + String.join(",", labels) + "}";
    }
}
