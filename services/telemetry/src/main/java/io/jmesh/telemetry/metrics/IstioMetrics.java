package io.jmesh.telemetry.metrics;

import io.jmesh.core.admin.FamilyScrape;
import io.jmesh.core.admin.FamilyTextWriter;
import io.jmesh.telemetry.aggregate.Buckets;
import io.jmesh.telemetry.aggregate.Distribution;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import io.jmesh.telemetry.aggregate.RequestTotals;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.jmesh.telemetry.aggregate.ServedLabels;
import io.jmesh.telemetry.aggregate.TcpTotals;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusScrapeRequest;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * Exposes the committed aggregates with Istio's metric names and labels: {@code istio_tcp_connections_opened_total},
 * {@code istio_tcp_connections_closed_total}, {@code istio_tcp_sent_bytes_total}, {@code istio_tcp_received_bytes_total},
 * {@code istio_requests_total}, and the histograms {@code istio_request_duration_milliseconds},
 * {@code istio_request_bytes}, {@code istio_response_bytes}.
 *
 * <p>Each series is served per owned partition, with Istio's labels and {@code partition} (see {@link MeshTotals}):
 * a partition handed to another replica, or the part of a series one partition counted expiring, then takes its
 * series away instead of lowering a counter, which Prometheus would read as a reset. Queries sum over it, as they
 * do over replicas.
 *
 * <p>Collection reads one immutable {@link MeshTotals}; it never touches the ingest thread's state. Series that
 * expired are simply absent from the next snapshot.
 *
 * <p>{@code /metrics} ({@link FamilyScrape}) gets no snapshot: each family's text is written straight from the
 * published totals, series by series, in the order the snapshot writers sort them in
 * ({@link MeshTotals#tcpInExpositionOrder()}, sorted once per published totals), byte for byte the same text. A
 * scrape then allocates a few buffers of KiB whatever the number of series, where a family's snapshot copied each
 * series and its labels first (~40 MiB per family at 100,000 series, per concurrent scrape). A family is read from
 * one published totals, so its samples are consistent with each other; the families of one scrape may come from
 * successive commits, as before. While a family is being written, at the scraper's pace, its scrape keeps those
 * totals reachable: a commit published meanwhile leaves the older totals in memory until that family is written
 * (at most one older totals per concurrent scrape).
 */
public final class IstioMetrics implements MultiCollector {

    private static final String[] TCP_NAMES = withPartition(IstioLabels.TCP);
    private static final String[] REQUEST_NAMES = withPartition(IstioLabels.REQUEST);
    private static final String REQUESTS_HELP = "Requests, as reported by waypoints";
    /** The buckets' {@code le} values, as the snapshot writers format them. */
    private static final String[] LE = java.util.Arrays.stream(upperBounds()).mapToObj(FamilyTextWriter::format)
            .toArray(String[]::new);

    private final Supplier<MeshTotals> totals;

    public IstioMetrics(Supplier<MeshTotals> totals) {
        this.totals = totals;
    }

    /** One metric family: its snapshot, or its text written series by series, from the totals. */
    private record Family(String name, Function<MeshTotals, MetricSnapshot> build, Text text) {}

    @FunctionalInterface
    private interface Text {
        void write(MeshTotals t, FamilyTextWriter out) throws IOException;
    }

    private static final List<Family> FAMILIES = List.of(
            tcpFamily("istio_tcp_connections_opened", "Connections opened, as reported by ztunnels", TcpTotals::opened),
            tcpFamily("istio_tcp_connections_closed", "Connections closed, as reported by ztunnels", TcpTotals::closed),
            tcpFamily("istio_tcp_connections_failed",
                    "Connections that ended in an error (denied, failed connect), as reported by ztunnels",
                    TcpTotals::failed),
            tcpFamily("istio_tcp_sent_bytes", "Bytes sent by the destination back to the source (Istio's direction)",
                    TcpTotals::sentBytes),
            tcpFamily("istio_tcp_received_bytes", "Bytes received from the source by the destination",
                    TcpTotals::receivedBytes),
            new Family("istio_requests", IstioMetrics::requestCounter, IstioMetrics::requestCounterText),
            histogramFamily("istio_request_duration_milliseconds",
                    "Request duration until the last response byte, in milliseconds", RequestTotals::durationMillis),
            histogramFamily("istio_request_bytes", "Request body sizes in bytes", RequestTotals::requestBytes),
            histogramFamily("istio_response_bytes", "Response body sizes in bytes", RequestTotals::responseBytes));

    @Override
    public MetricSnapshots collect() {
        return collect(name -> true);
    }

    /**
     * Builds only the families asked for: the admin server writes {@code /metrics} one family at a time, and with
     * 100,000 series each family's snapshot is tens of MiB (the default would build all nine for each).
     */
    @Override
    public MetricSnapshots collect(Predicate<String> includedNames) {
        if (includedNames instanceof FamilyScrape scrape) {
            // /metrics: the family's text is written straight from the totals, series by series, with no snapshot
            for (Family f : FAMILIES) {
                if (scrape.test(f.name())) {
                    MeshTotals t = totals.get();
                    scrape.stream(out -> f.text().write(t, out));
                }
            }
            return MetricSnapshots.of();
        }
        MeshTotals t = totals.get();
        MetricSnapshots.Builder b = MetricSnapshots.builder();
        for (Family f : FAMILIES) {
            if (includedNames.test(f.name())) {
                b.metricSnapshot(f.build().apply(t));
            }
        }
        return b.build();
    }

    @Override
    public MetricSnapshots collect(Predicate<String> includedNames, PrometheusScrapeRequest request) {
        return collect(includedNames);
    }

    @Override
    public List<String> getPrometheusNames() {
        return FAMILIES.stream().map(Family::name).toList();
    }

    private static Family tcpFamily(String name, String help, ToLongFunction<TcpTotals> value) {
        return new Family(name, t -> tcpCounter(t, name, help, value), (t, out) -> {
            List<MeshTotals.Served<TcpTotals>> series = t.tcpInExpositionOrder();
            if (series.isEmpty()) {
                return;
            }
            out.counter(name, help);
            String sample = name + "_total";
            for (MeshTotals.Served<TcpTotals> s : series) {
                out.sample(sample);
                labels(ServedLabels.TCP, s, out);
                out.value((double) value.applyAsLong(s.totals()));
            }
        });
    }

    private static void requestCounterText(MeshTotals t, FamilyTextWriter out) throws IOException {
        List<MeshTotals.Served<RequestTotals>> series = t.requestsInExpositionOrder();
        if (series.isEmpty()) {
            return;
        }
        out.counter("istio_requests", REQUESTS_HELP);
        for (MeshTotals.Served<RequestTotals> s : series) {
            out.sample("istio_requests_total");
            labels(ServedLabels.REQUEST, s, out);
            out.value((double) s.totals().requests());
        }
    }

    private static Family histogramFamily(String name, String help, Function<RequestTotals, Distribution> which) {
        String bucket = name + "_bucket";
        String count = name + "_count";
        String sum = name + "_sum";
        return new Family(name, t -> histogram(t, name, help, which), (t, out) -> {
            List<MeshTotals.Served<RequestTotals>> series = t.requestsInExpositionOrder();
            if (series.isEmpty()) {
                return;
            }
            out.histogram(name, help);
            for (MeshTotals.Served<RequestTotals> s : series) {
                Distribution d = which.apply(s.totals());
                long cumulative = 0;
                for (int i = 0; i < LE.length; i++) {
                    cumulative += d.bucketCount(i);
                    out.sample(bucket);
                    labels(ServedLabels.REQUEST, s, out);
                    out.labelFormatted("le", LE[i]);
                    out.value(cumulative);
                }
                out.sample(count);
                labels(ServedLabels.REQUEST, s, out);
                out.value(cumulative);
                out.sample(sum);
                labels(ServedLabels.REQUEST, s, out);
                out.value(d.sum());
            }
        });
    }

    private static void labels(ServedLabels labels, MeshTotals.Served<?> series, FamilyTextWriter out)
            throws IOException {
        for (int i = 0; i < labels.size(); i++) {
            String value = labels.value(i, series);
            if (!RemovedLabels.isRemoved(value)) { // metrics.removeLabels: the family has no such label
                out.label(labels.name(i), value);
            }
        }
    }

    private static CounterSnapshot tcpCounter(MeshTotals t, String name, String help, ToLongFunction<TcpTotals> value) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(help);
        for (MeshTotals.Partition p : t.partitions()) {
            for (Map.Entry<SeriesKey, TcpTotals> e : p.tcp().entrySet()) {
                b.dataPoint(CounterDataPointSnapshot.builder().labels(labels(TCP_NAMES, e.getKey(), p))
                        .value(value.applyAsLong(e.getValue())).build());
            }
        }
        return b.build();
    }

    private static CounterSnapshot requestCounter(MeshTotals t) {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name("istio_requests").help(REQUESTS_HELP);
        for (MeshTotals.Partition p : t.partitions()) {
            for (Map.Entry<SeriesKey, RequestTotals> e : p.requests().entrySet()) {
                b.dataPoint(CounterDataPointSnapshot.builder().labels(labels(REQUEST_NAMES, e.getKey(), p))
                        .value(e.getValue().requests()).build());
            }
        }
        return b.build();
    }

    private static HistogramSnapshot histogram(MeshTotals t, String name, String help,
            Function<RequestTotals, Distribution> which) {
        double[] bounds = upperBounds();
        HistogramSnapshot.Builder b = HistogramSnapshot.builder().name(name).help(help);
        for (MeshTotals.Partition p : t.partitions()) {
            for (Map.Entry<SeriesKey, RequestTotals> e : p.requests().entrySet()) {
                Distribution d = which.apply(e.getValue());
                b.dataPoint(HistogramDataPointSnapshot.builder()
                        .labels(labels(REQUEST_NAMES, e.getKey(), p))
                        .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, d.bucketCounts()))
                        .sum(d.sum())
                        .build());
            }
        }
        return b.build();
    }

    /** The series' Istio label values but the removed ones ({@code metrics.removeLabels}), then its partition's number. */
    private static Labels labels(String[] names, SeriesKey key, MeshTotals.Partition p) {
        String[] values = java.util.Arrays.copyOf(key.values(), names.length);
        values[names.length - 1] = p.number();
        int kept = 0;
        for (String v : values) {
            kept += RemovedLabels.isRemoved(v) ? 0 : 1;
        }
        if (kept == names.length) {
            return Labels.of(names, values);
        }
        String[] keptNames = new String[kept];
        String[] keptValues = new String[kept];
        for (int i = 0, j = 0; i < names.length; i++) {
            if (!RemovedLabels.isRemoved(values[i])) {
                keptNames[j] = names[i];
                keptValues[j++] = values[i];
            }
        }
        return Labels.of(keptNames, keptValues);
    }

    private static String[] withPartition(List<String> istio) {
        String[] names = istio.toArray(new String[istio.size() + 1]);
        names[istio.size()] = MeshTotals.PARTITION_LABEL;
        return names;
    }

    private static double[] upperBounds() {
        double[] b = Buckets.bounds();
        double[] all = java.util.Arrays.copyOf(b, b.length + 1);
        all[b.length] = Double.POSITIVE_INFINITY;
        return all;
    }
}
