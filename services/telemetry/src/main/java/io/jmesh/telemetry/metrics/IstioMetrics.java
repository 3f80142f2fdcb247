package io.jmesh.telemetry.metrics;

import io.jmesh.telemetry.aggregate.Buckets;
import io.jmesh.telemetry.aggregate.Distribution;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.RequestTotals;
import io.jmesh.telemetry.aggregate.SeriesKey;
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
 */
public final class IstioMetrics implements MultiCollector {

    private static final String[] TCP_NAMES = withPartition(IstioLabels.TCP);
    private static final String[] REQUEST_NAMES = withPartition(IstioLabels.REQUEST);

    private final Supplier<MeshTotals> totals;

    public IstioMetrics(Supplier<MeshTotals> totals) {
        this.totals = totals;
    }

    /** One metric family, built from a snapshot of the totals. */
    private record Family(String name, Function<MeshTotals, MetricSnapshot> build) {}

    private static final List<Family> FAMILIES = List.of(
            new Family("istio_tcp_connections_opened", t -> tcpCounter(t, "istio_tcp_connections_opened",
                    "Connections opened, as reported by ztunnels", TcpTotals::opened)),
            new Family("istio_tcp_connections_closed", t -> tcpCounter(t, "istio_tcp_connections_closed",
                    "Connections closed, as reported by ztunnels", TcpTotals::closed)),
            new Family("istio_tcp_connections_failed", t -> tcpCounter(t, "istio_tcp_connections_failed",
                    "Connections that ended in an error (denied, failed connect), as reported by ztunnels",
                    TcpTotals::failed)),
            new Family("istio_tcp_sent_bytes", t -> tcpCounter(t, "istio_tcp_sent_bytes",
                    "Bytes sent by the destination back to the source (Istio's direction)", TcpTotals::sentBytes)),
            new Family("istio_tcp_received_bytes", t -> tcpCounter(t, "istio_tcp_received_bytes",
                    "Bytes received from the source by the destination", TcpTotals::receivedBytes)),
            new Family("istio_requests", IstioMetrics::requestCounter),
            new Family("istio_request_duration_milliseconds", t -> histogram(t, "istio_request_duration_milliseconds",
                    "Request duration until the last response byte, in milliseconds", RequestTotals::durationMillis)),
            new Family("istio_request_bytes", t -> histogram(t, "istio_request_bytes", "Request body sizes in bytes",
                    RequestTotals::requestBytes)),
            new Family("istio_response_bytes", t -> histogram(t, "istio_response_bytes",
                    "Response body sizes in bytes", RequestTotals::responseBytes)));

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
        CounterSnapshot.Builder b = CounterSnapshot.builder().name("istio_requests")
                .help("Requests, as reported by waypoints");
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

    /** The series' Istio label values, then its partition's number. */
    private static Labels labels(String[] names, SeriesKey key, MeshTotals.Partition p) {
        String[] values = java.util.Arrays.copyOf(key.values(), names.length);
        values[names.length - 1] = p.number();
        return Labels.of(names, values);
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
