package io.jmesh.telemetry.otlp;

import io.jmesh.telemetry.aggregate.Buckets;
import io.jmesh.telemetry.aggregate.Distribution;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import io.jmesh.telemetry.aggregate.RequestTotals;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.jmesh.telemetry.aggregate.TcpTotals;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.metrics.v1.AggregationTemporality;
import io.opentelemetry.proto.metrics.v1.Histogram;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import io.opentelemetry.proto.metrics.v1.Sum;
import io.opentelemetry.proto.resource.v1.Resource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * Turns the aggregates into OTLP {@code ExportMetricsServiceRequest}s: Istio's counters as cumulative monotonic
 * sums, its histograms as cumulative explicit-bucket histograms, labels as attributes, one point per series and
 * owned partition (attribute {@code partition}: a sum over partitions would decrease when one leaves, which a
 * cumulative monotonic sum must not). Start times come from {@link StreamStarts}. Names are the Prometheus
 * base names without {@code _total} (an OpenTelemetry Collector's Prometheus exporter adds it back).
 *
 * <p>A series carries two dozen labels, so one data point is ~1.3 KiB and a single request of a mesh with a
 * thousand series would pass the 4 MiB a Collector's gRPC receiver accepts by default. The data points are
 * therefore split over as many requests as it takes to keep each under a byte budget; a metric whose points
 * span several requests appears in each with a part of them.
 */
final class OtlpMetricMapper {

    /** Data point bytes per request: half the Collector's default 4 MiB receive limit, for the envelope. */
    static final int MAX_REQUEST_BYTES = 2 * 1024 * 1024;

    private static final String SCOPE = "io.jmesh.telemetry";

    private OtlpMetricMapper() {}

    static List<ExportMetricsServiceRequest> map(MeshTotals t, String instanceId, StreamStarts starts, long nowNanos) {
        return map(t, instanceId, starts, nowNanos, MAX_REQUEST_BYTES);
    }

    static List<ExportMetricsServiceRequest> map(MeshTotals t, String instanceId, StreamStarts starts, long nowNanos,
            int maxBytes) {
        Resource resource = Resource.newBuilder()
                .addAttributes(attr("service.name", "jmesh-telemetry"))
                .addAttributes(attr("service.instance.id", instanceId))
                .build();
        Batches b = new Batches(resource, maxBytes);
        sum(b, t, "istio_tcp_connections_opened", "Connections opened", "{connection}", TcpTotals::opened,
                starts, nowNanos);
        sum(b, t, "istio_tcp_connections_closed", "Connections closed", "{connection}", TcpTotals::closed,
                starts, nowNanos);
        sum(b, t, "istio_tcp_connections_failed", "Connections that ended in an error", "{connection}",
                TcpTotals::failed, starts, nowNanos);
        sum(b, t, "istio_tcp_sent_bytes", "Bytes sent by the destination to the source", "By",
                TcpTotals::sentBytes, starts, nowNanos);
        sum(b, t, "istio_tcp_received_bytes", "Bytes received from the source", "By", TcpTotals::receivedBytes,
                starts, nowNanos);
        requests(b, t, starts, nowNanos);
        histogram(b, t, "istio_request_duration_milliseconds", "Request duration", "ms",
                RequestTotals::durationMillis, starts, nowNanos);
        histogram(b, t, "istio_request_bytes", "Request body sizes", "By", RequestTotals::requestBytes, starts,
                nowNanos);
        histogram(b, t, "istio_response_bytes", "Response body sizes", "By", RequestTotals::responseBytes,
                starts, nowNanos);
        return b.finish();
    }

    private static Metric.Builder monotonicSum(String name, String description, String unit) {
        return Metric.newBuilder().setName(name).setDescription(description).setUnit(unit)
                .setSum(Sum.newBuilder().setIsMonotonic(true)
                        .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE));
    }

    private static void sum(Batches b, MeshTotals t, String name, String description, String unit,
            ToLongFunction<TcpTotals> value, StreamStarts starts, long now) {
        b.metric(monotonicSum(name, description, unit));
        for (MeshTotals.Partition p : t.partitions()) {
            for (Map.Entry<SeriesKey, TcpTotals> e : p.tcp().entrySet()) {
                b.add(NumberDataPoint.newBuilder().addAllAttributes(attrs(IstioLabels.TCP, e.getKey(), p))
                        .setStartTimeUnixNano(starts.of(true, p.number(), e.getKey(), now)).setTimeUnixNano(now)
                        .setAsInt(value.applyAsLong(e.getValue()))
                        .build());
            }
        }
    }

    private static void requests(Batches b, MeshTotals t, StreamStarts starts, long now) {
        b.metric(monotonicSum("istio_requests", "Requests", "{request}"));
        for (MeshTotals.Partition p : t.partitions()) {
            for (Map.Entry<SeriesKey, RequestTotals> e : p.requests().entrySet()) {
                b.add(NumberDataPoint.newBuilder().addAllAttributes(attrs(IstioLabels.REQUEST, e.getKey(), p))
                        .setStartTimeUnixNano(starts.of(false, p.number(), e.getKey(), now)).setTimeUnixNano(now)
                        .setAsInt(e.getValue().requests()).build());
            }
        }
    }

    private static void histogram(Batches b, MeshTotals t, String name, String description, String unit,
            Function<RequestTotals, Distribution> which, StreamStarts starts, long now) {
        b.metric(Metric.newBuilder().setName(name).setDescription(description).setUnit(unit)
                .setHistogram(Histogram.newBuilder()
                        .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)));
        for (MeshTotals.Partition part : t.partitions()) {
            for (Map.Entry<SeriesKey, RequestTotals> e : part.requests().entrySet()) {
                Distribution d = which.apply(e.getValue());
                HistogramDataPoint.Builder p = HistogramDataPoint.newBuilder()
                        .addAllAttributes(attrs(IstioLabels.REQUEST, e.getKey(), part))
                        .setStartTimeUnixNano(starts.of(false, part.number(), e.getKey(), now)).setTimeUnixNano(now)
                        .setCount(d.count()).setSum(d.sum());
                for (double bound : Buckets.bounds()) {
                    p.addExplicitBounds(bound);
                }
                for (long c : d.bucketCounts()) {
                    p.addBucketCounts(c);
                }
                b.add(p.build());
            }
        }
    }

    /**
     * Fills requests one metric at a time, starting the next request when a data point would take the current one
     * past the budget (a request always takes at least one point, so an oversized point still goes out alone).
     */
    private static final class Batches {
        private final Resource resource;
        private final int maxBytes;
        private final List<ExportMetricsServiceRequest> done = new ArrayList<>();
        private ScopeMetrics.Builder scope = newScope();
        private int bytes;
        private Metric.Builder template;
        private Metric.Builder metric;
        private boolean metricHasPoints;

        Batches(Resource resource, int maxBytes) {
            this.resource = resource;
            this.maxBytes = maxBytes;
        }

        /** Starts the next metric; its points follow. A metric without points is still declared. */
        void metric(Metric.Builder empty) {
            closeMetric(true);
            template = empty;
            metric = empty.clone();
            metricHasPoints = false;
        }

        void add(NumberDataPoint p) {
            makeRoom(p.getSerializedSize());
            metric.getSumBuilder().addDataPoints(p);
            metricHasPoints = true;
        }

        void add(HistogramDataPoint p) {
            makeRoom(p.getSerializedSize());
            metric.getHistogramBuilder().addDataPoints(p);
            metricHasPoints = true;
        }

        private void makeRoom(int size) {
            if (bytes > 0 && bytes + size > maxBytes) {
                closeMetric(false);
                closeRequest();
                metric = template.clone();
                metricHasPoints = false;
            }
            bytes += size + 4; // the field's tag and length
        }

        /** A part without points is left out, unless it is all the metric has (a split is followed by a point). */
        private void closeMetric(boolean last) {
            if (metric != null && (metricHasPoints || last)) {
                scope.addMetrics(metric);
            }
            metric = null;
        }

        private void closeRequest() {
            done.add(ExportMetricsServiceRequest.newBuilder()
                    .addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource).addScopeMetrics(scope))
                    .build());
            scope = newScope();
            bytes = 0;
        }

        List<ExportMetricsServiceRequest> finish() {
            closeMetric(true);
            closeRequest();
            return done;
        }

        private static ScopeMetrics.Builder newScope() {
            return ScopeMetrics.newBuilder().setScope(InstrumentationScope.newBuilder().setName(SCOPE).build());
        }
    }

    /**
     * Istio's labels but those removed ({@code metrics.removeLabels}), then the partition the series was counted on
     * (see {@link MeshTotals}).
     */
    private static List<KeyValue> attrs(List<String> names, SeriesKey key, MeshTotals.Partition p) {
        List<KeyValue> kv = new ArrayList<>(names.size() + 1);
        for (int i = 0; i < names.size(); i++) {
            if (!RemovedLabels.isRemoved(key.value(i))) {
                kv.add(attr(names.get(i), key.value(i)));
            }
        }
        kv.add(attr(MeshTotals.PARTITION_LABEL, p.number()));
        return kv;
    }

    private static KeyValue attr(String key, String value) {
        return KeyValue.newBuilder().setKey(key).setValue(AnyValue.newBuilder().setStringValue(value)).build();
    }
}
