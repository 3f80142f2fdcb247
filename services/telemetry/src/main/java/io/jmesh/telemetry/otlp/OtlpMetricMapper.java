package io.jmesh.telemetry.otlp;

import io.jmesh.telemetry.aggregate.Buckets;
import io.jmesh.telemetry.aggregate.Distribution;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.MeshTotals;
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
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * Turns the aggregates into one OTLP {@code ExportMetricsServiceRequest}: Istio's counters as cumulative monotonic
 * sums, its histograms as cumulative explicit-bucket histograms, labels as attributes. Names are the Prometheus
 * base names without {@code _total} (an OpenTelemetry Collector's Prometheus exporter adds it back).
 */
final class OtlpMetricMapper {

    private static final String SCOPE = "io.jmesh.telemetry";

    private OtlpMetricMapper() {}

    static ExportMetricsServiceRequest map(MeshTotals t, String instanceId, long startNanos, long nowNanos) {
        ScopeMetrics.Builder scope = ScopeMetrics.newBuilder()
                .setScope(InstrumentationScope.newBuilder().setName(SCOPE).build())
                .addMetrics(sum(t, "istio_tcp_connections_opened", "Connections opened", "{connection}",
                        TcpTotals::opened, startNanos, nowNanos))
                .addMetrics(sum(t, "istio_tcp_connections_closed", "Connections closed", "{connection}",
                        TcpTotals::closed, startNanos, nowNanos))
                .addMetrics(sum(t, "istio_tcp_connections_failed", "Connections that ended in an error",
                        "{connection}", TcpTotals::failed, startNanos, nowNanos))
                .addMetrics(sum(t, "istio_tcp_sent_bytes", "Bytes sent by the destination to the source", "By",
                        TcpTotals::sentBytes, startNanos, nowNanos))
                .addMetrics(sum(t, "istio_tcp_received_bytes", "Bytes received from the source", "By",
                        TcpTotals::receivedBytes, startNanos, nowNanos))
                .addMetrics(requests(t, startNanos, nowNanos))
                .addMetrics(histogram(t, "istio_request_duration_milliseconds", "Request duration", "ms",
                        RequestTotals::durationMillis, startNanos, nowNanos))
                .addMetrics(histogram(t, "istio_request_bytes", "Request body sizes", "By",
                        RequestTotals::requestBytes, startNanos, nowNanos))
                .addMetrics(histogram(t, "istio_response_bytes", "Response body sizes", "By",
                        RequestTotals::responseBytes, startNanos, nowNanos));
        Resource resource = Resource.newBuilder()
                .addAttributes(attr("service.name", "jmesh-telemetry"))
                .addAttributes(attr("service.instance.id", instanceId))
                .build();
        return ExportMetricsServiceRequest.newBuilder()
                .addResourceMetrics(ResourceMetrics.newBuilder().setResource(resource).addScopeMetrics(scope))
                .build();
    }

    private static Metric sum(MeshTotals t, String name, String description, String unit,
            ToLongFunction<TcpTotals> value, long start, long now) {
        Sum.Builder sum = Sum.newBuilder().setIsMonotonic(true)
                .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
        for (Map.Entry<SeriesKey, TcpTotals> e : t.tcp().entrySet()) {
            sum.addDataPoints(NumberDataPoint.newBuilder().addAllAttributes(attrs(IstioLabels.TCP, e.getKey()))
                    .setStartTimeUnixNano(start).setTimeUnixNano(now).setAsInt(value.applyAsLong(e.getValue())));
        }
        return Metric.newBuilder().setName(name).setDescription(description).setUnit(unit).setSum(sum).build();
    }

    private static Metric requests(MeshTotals t, long start, long now) {
        Sum.Builder sum = Sum.newBuilder().setIsMonotonic(true)
                .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
        for (Map.Entry<SeriesKey, RequestTotals> e : t.requests().entrySet()) {
            sum.addDataPoints(NumberDataPoint.newBuilder().addAllAttributes(attrs(IstioLabels.REQUEST, e.getKey()))
                    .setStartTimeUnixNano(start).setTimeUnixNano(now).setAsInt(e.getValue().requests()));
        }
        return Metric.newBuilder().setName("istio_requests").setDescription("Requests").setUnit("{request}")
                .setSum(sum).build();
    }

    private static Metric histogram(MeshTotals t, String name, String description, String unit,
            Function<RequestTotals, Distribution> which, long start, long now) {
        Histogram.Builder h = Histogram.newBuilder()
                .setAggregationTemporality(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
        for (Map.Entry<SeriesKey, RequestTotals> e : t.requests().entrySet()) {
            Distribution d = which.apply(e.getValue());
            HistogramDataPoint.Builder p = HistogramDataPoint.newBuilder()
                    .addAllAttributes(attrs(IstioLabels.REQUEST, e.getKey()))
                    .setStartTimeUnixNano(start).setTimeUnixNano(now)
                    .setCount(d.count()).setSum(d.sum());
            for (double b : Buckets.bounds()) {
                p.addExplicitBounds(b);
            }
            for (long c : d.bucketCounts()) {
                p.addBucketCounts(c);
            }
            h.addDataPoints(p);
        }
        return Metric.newBuilder().setName(name).setDescription(description).setUnit(unit).setHistogram(h).build();
    }

    private static List<KeyValue> attrs(List<String> names, SeriesKey key) {
        KeyValue[] kv = new KeyValue[names.size()];
        for (int i = 0; i < kv.length; i++) {
            kv[i] = attr(names.get(i), key.value(i));
        }
        return List.of(kv);
    }

    private static KeyValue attr(String key, String value) {
        return KeyValue.newBuilder().setKey(key).setValue(AnyValue.newBuilder().setStringValue(value)).build();
    }
}
