package io.jmesh.core.admin;

import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.io.OutputStream;
import java.util.HashSet;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The exposition of a registry, written one metric family at a time, so that producing it holds one family at a
 * time rather than all: what {@code /metrics} streams ({@link MetricsEndpoint}).
 *
 * <p>A family is usually collected into its snapshot, which the format's writer then turns into text. In either
 * text format a collector may instead write the family's text itself, series by series, from the data it serves
 * ({@link FamilyScrape}): telemetry's Istio families, whose snapshots at 100,000 series are ~40 MiB each (per
 * concurrent scrape), are written so with a few buffers of KiB.
 */
public final class Exposition {

    private final PrometheusRegistry registry;

    public Exposition(PrometheusRegistry registry) {
        this.registry = registry;
    }

    /**
     * Writes every family in name order, as one {@link MetricSnapshots} sorts them; OpenMetrics' single
     * {@code # EOF} ends the whole text. A family is collected at the moment it is written: families of one scrape
     * may come from different moments, as with any exporter whose collectors are read one after another.
     */
    public void write(OutputStream out, ExpositionFormatWriter writer) throws IOException {
        SortedSet<String> names = new TreeSet<>();
        registry.scrape(name -> {
            names.add(name); // only listed: a collector that declares its names is not collected for this
            return false;
        });
        EofHeldBack body = new EofHeldBack(out, writer.getContentType().startsWith("application/openmetrics-text"));
        // a counter is listed, and matched, under its name and under its name with _total: written at the first
        Set<String> written = new HashSet<>();
        Boolean openMetricsText = textFormat(writer);
        for (String name : names) {
            FamilyScrape scrape = openMetricsText == null ? null : new FamilyScrape(name);
            MetricSnapshots family = unwritten(registry.scrape(scrape != null ? scrape : name::equals), written);
            if (family.size() > 0) {
                writer.write(body, family);
                body.endOfFamily();
            }
            if (scrape != null && scrape.streamed() && written.add(name)) {
                scrape.writeStreamed(body, openMetricsText);
            }
        }
        body.finish();
    }

    /** Whether the writer is OpenMetrics 1.0 text (true) or Prometheus text (false); null for any other format. */
    private static Boolean textFormat(ExpositionFormatWriter writer) {
        if (writer.getClass() == OpenMetricsTextFormatWriter.class) {
            return true;
        }
        if (writer.getClass() == PrometheusTextFormatWriter.class) {
            return false;
        }
        return null; // protobuf, OpenMetrics 2: every family is collected into its snapshot
    }

    private static MetricSnapshots unwritten(MetricSnapshots collected, Set<String> written) {
        MetricSnapshots.Builder b = MetricSnapshots.builder();
        for (MetricSnapshot s : collected) {
            if (written.add(s.getMetadata().getPrometheusName())) {
                b.metricSnapshot(s);
            }
        }
        return b.build();
    }
}
