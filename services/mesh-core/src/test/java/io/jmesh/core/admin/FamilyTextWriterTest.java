package io.jmesh.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** A family written series by series has the bytes of its snapshot as the client's text writers write it. */
class FamilyTextWriterTest {

    private static final String HELP = "help with \\ backslash, \"quotes\"\nand a newline";
    /** In the order the snapshots sort their series in. */
    private static final String[] VALUES = {"back\\slash", "lone\uDC00", "new\nline", "plain", "q\"uote", "ünï日😀"};
    private static final double[] COUNTS = {0, 1, 9_999_999, 12_345_678_901.0, 0.125, Double.POSITIVE_INFINITY};
    private static final double[] BOUNDS = {0.5, 1, 1e7, Double.POSITIVE_INFINITY};

    @Test
    void streamedFamiliesAreTheSnapshotWritersTextInBothFormats() throws Exception {
        ExpositionFormats formats = ExpositionFormats.init();
        for (ExpositionFormatWriter writer : List.of(formats.getPrometheusTextFormatWriter(),
                formats.getOpenMetricsTextFormatWriter())) {
            assertThat(text(new Families(true), writer)).as(writer.getContentType())
                    .contains("ünï日😀", "lone?", "1.2345678901E10", "+Inf", "le=\"1.0E7\"")
                    .isEqualTo(text(new Families(false), writer));
        }
    }

    private static String text(MultiCollector families, ExpositionFormatWriter writer) throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(families);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new Exposition(registry).write(out, writer);
        return out.toString(StandardCharsets.UTF_8);
    }

    /** A counter and a histogram, streamed or as snapshots; series already in the snapshots' order. */
    private static final class Families implements MultiCollector {
        private final boolean streamed;

        Families(boolean streamed) {
            this.streamed = streamed;
        }

        @Override
        public MetricSnapshots collect() {
            return collect(name -> true);
        }

        @Override
        public MetricSnapshots collect(Predicate<String> names) {
            if (streamed && names instanceof FamilyScrape scrape) {
                if (scrape.test("a_counter")) {
                    scrape.stream(this::counter);
                }
                if (scrape.test("b_histogram")) {
                    scrape.stream(this::histogram);
                }
                return MetricSnapshots.of();
            }
            MetricSnapshots.Builder b = MetricSnapshots.builder();
            if (names.test("a_counter")) {
                CounterSnapshot.Builder c = CounterSnapshot.builder().name("a_counter").help(HELP);
                for (int i = 0; i < VALUES.length; i++) {
                    c.dataPoint(CounterDataPointSnapshot.builder().labels(Labels.of("k", VALUES[i], "z", "1"))
                            .value(COUNTS[i]).build());
                }
                b.metricSnapshot(c.build());
            }
            if (names.test("b_histogram")) {
                HistogramSnapshot.Builder h = HistogramSnapshot.builder().name("b_histogram").help(HELP);
                for (int i = 0; i < VALUES.length; i++) {
                    h.dataPoint(HistogramDataPointSnapshot.builder().labels(Labels.of("k", VALUES[i]))
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(BOUNDS, new long[] {i, 0, 2, 1}))
                            .sum(COUNTS[i] / 3).build());
                }
                b.metricSnapshot(h.build());
            }
            return b.build();
        }

        @Override
        public List<String> getPrometheusNames() {
            return List.of("a_counter", "b_histogram");
        }

        private void counter(FamilyTextWriter out) throws java.io.IOException {
            out.counter("a_counter", HELP);
            for (int i = 0; i < VALUES.length; i++) {
                out.sample("a_counter_total");
                out.label("k", VALUES[i]);
                out.label("z", "1");
                out.value(COUNTS[i]);
            }
        }

        private void histogram(FamilyTextWriter out) throws java.io.IOException {
            out.histogram("b_histogram", HELP);
            for (int i = 0; i < VALUES.length; i++) {
                long[] counts = {i, 0, 2, 1};
                long cumulative = 0;
                for (int b = 0; b < BOUNDS.length; b++) {
                    cumulative += counts[b];
                    out.sample("b_histogram_bucket");
                    out.label("k", VALUES[i]);
                    out.labelFormatted("le", FamilyTextWriter.format(BOUNDS[b]));
                    out.value(cumulative);
                }
                out.sample("b_histogram_count");
                out.label("k", VALUES[i]);
                out.value(cumulative);
                out.sample("b_histogram_sum");
                out.label("k", VALUES[i]);
                out.value(COUNTS[i] / 3);
            }
        }
    }
}
