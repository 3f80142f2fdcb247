package io.jmesh.telemetry.otlp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import com.google.protobuf.ByteString;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.metrics.v1.AggregationTemporality;
import io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import io.opentelemetry.proto.metrics.v1.Metric;
import io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServer;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The aggregated metrics reach an OTLP/gRPC collector: an in-process receiver built from the OTLP protos on a
 * Vert.x gRPC server, with the service method made from its name.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OtlpExportTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final ServiceMethod<ExportMetricsServiceRequest, ExportMetricsServiceResponse> EXPORT =
            ServiceMethod.server(ServiceName.create("opentelemetry.proto.collector.metrics.v1.MetricsService"),
                    "Export", GrpcMessageEncoder.encoder(),
                    GrpcMessageDecoder.decoder(ExportMetricsServiceRequest.newBuilder()));

    private static final ServiceMethod<ExportTraceServiceRequest, ExportTraceServiceResponse> TRACES =
            ServiceMethod.server(ServiceName.create("opentelemetry.proto.collector.trace.v1.TraceService"),
                    "Export", GrpcMessageEncoder.encoder(),
                    GrpcMessageDecoder.decoder(ExportTraceServiceRequest.newBuilder()));

    private final List<ExportMetricsServiceRequest> received = new CopyOnWriteArrayList<>();
    private final List<ExportTraceServiceRequest> traces = new CopyOnWriteArrayList<>();
    private final AtomicBoolean unavailable = new AtomicBoolean();
    private Vertx vertx;
    private HttpServer collector;

    @BeforeEach
    void startCollector() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(EXPORT, call -> call.handler(req -> {
            if (unavailable.get()) {
                call.response().status(GrpcStatus.UNAVAILABLE).end();
                return;
            }
            received.add(req);
            call.response().end(ExportMetricsServiceResponse.getDefaultInstance());
        }));
        grpc.callHandler(TRACES, call -> call.handler(req -> {
            if (unavailable.get()) {
                call.response().status(GrpcStatus.UNAVAILABLE).end();
                return;
            }
            boolean poison = req.getResourceSpansList().stream().flatMap(rs -> rs.getScopeSpansList().stream())
                    .flatMap(ss -> ss.getSpansList().stream()).anyMatch(sp -> sp.getName().equals("poison"));
            if (poison) { // a permanent refusal: OTLP says drop, do not retry
                call.response().status(GrpcStatus.INVALID_ARGUMENT).end();
                return;
            }
            traces.add(req);
            call.response().end(ExportTraceServiceResponse.getDefaultInstance());
        }));
        collector = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                .requestHandler(grpc).listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stopCollector() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void countersAndHistogramsAreExportedWithIstiosNamesAndAttributes() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("otlp"), "a");
        String endpoint = "127.0.0.1:" + collector.actualPort();
        try (TelemetryInstance t = TelemetryInstance.start(cfg, c -> withOtlp(c, endpoint), Clock.systemUTC());
                EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.requestTopic(), "pp", Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 200, 7));
            p.send(cfg.requestTopic(), "pp", Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 200, 30));
            p.send(cfg.connectionTopic(), "pp", Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 1000, 10));
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 3);
            // the three events may be committed by different checkpoints: wait for an export holding all of them
            await().atMost(Duration.ofSeconds(30)).until(() -> metric("istio_requests") != null
                    && metric("istio_requests").getSum().getDataPointsCount() == 1
                    && metric("istio_requests").getSum().getDataPoints(0).getAsInt() == 2
                    && metric("istio_tcp_sent_bytes") != null
                    && metric("istio_tcp_sent_bytes").getSum().getDataPointsCount() == 1);

            Metric requests = metric("istio_requests");
            assertThat(requests.getSum().getIsMonotonic()).isTrue();
            assertThat(requests.getSum().getAggregationTemporality())
                    .isEqualTo(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
            Map<String, String> attrs = attributes(requests.getSum().getDataPoints(0).getAttributesList());
            assertThat(attrs).containsEntry("reporter", "waypoint").containsEntry("response_code", "200")
                    .containsEntry("source_workload", "productpage-v1")
                    .containsEntry("destination_service", "reviews.default.svc.cluster.local")
                    .containsEntry("connection_security_policy", "mutual_tls")
                    .containsKey("partition"); // a point per owned partition: see MeshTotals

            HistogramDataPoint duration = metric("istio_request_duration_milliseconds").getHistogram().getDataPoints(0);
            assertThat(duration.getCount()).isEqualTo(2);
            assertThat(duration.getSum()).isEqualTo(37.0);
            assertThat(duration.getExplicitBoundsList()).startsWith(0.5, 1.0, 5.0, 10.0, 25.0, 50.0);
            assertThat(duration.getBucketCountsList()).hasSize(duration.getExplicitBoundsCount() + 1);
            assertThat(duration.getBucketCounts(3)).isEqualTo(1); // (5, 10]
            assertThat(duration.getBucketCounts(5)).isEqualTo(1); // (25, 50]

            NumberDataPoint sent = metric("istio_tcp_sent_bytes").getSum().getDataPoints(0);
            assertThat(sent.getAsInt()).isEqualTo(1000);
            assertThat(attributes(sent.getAttributesList())).containsEntry("request_protocol", "tcp");
            ExportMetricsServiceRequest last = received.get(received.size() - 1);
            assertThat(attributes(last.getResourceMetrics(0).getResource().getAttributesList()))
                    .containsEntry("service.name", "jmesh-telemetry");
            assertThat(t.scrape()).containsPattern("telemetry_otlp_exports_total\\{result=\"ok\"\\} [1-9]");

            // a collector that refuses: counted as failed, and exports go on once it is back
            unavailable.set(true);
            await().atMost(Duration.ofSeconds(30)).until(() ->
                    t.scrape().matches("(?s).*telemetry_otlp_exports_total\\{result=\"failed\"\\} [1-9].*"));
            int before = received.size();
            unavailable.set(false);
            await().atMost(Duration.ofSeconds(30)).until(() -> received.size() > before);
        }
    }

    @Test
    void spansPublishedByWaypointsAreForwardedAtLeastOnceAndBadRecordsSkipped() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("traces"), "a");
        String endpoint = "127.0.0.1:" + collector.actualPort();
        String topic = cfg.groupId() + ".traces";
        try (TelemetryInstance t = TelemetryInstance.start(cfg, c -> withOtlp(c, endpoint), Clock.systemUTC());
                EventProducer p = new EventProducer(kafka)) {
            p.send(topic, "4bf92f3577b34da6a3ce929d0e0e4736", spans("4bf92f3577b34da6a3ce929d0e0e4736", "GET /reviews/0",
                    "GET /ratings/0"));
            p.send(topic, "garbage", new byte[] {(byte) 0xff, (byte) 0xff});
            await().atMost(Duration.ofSeconds(60)).until(() -> spanNames().size() == 2);
            assertThat(spanNames()).containsExactlyInAnyOrder("GET /reviews/0", "GET /ratings/0");
            assertThat(traces.get(0).getResourceSpans(0).getResource().getAttributes(0).getValue().getStringValue())
                    .isEqualTo("waypoint-0");
            await().atMost(Duration.ofSeconds(30)).until(() -> t.scrape().contains("telemetry_spans_forwarded_total 2.0")
                    && t.scrape().contains("telemetry_trace_records_rejected_total{reason=\"undecodable\"} 1.0"));

            // the collector refuses: the batch is not committed, and arrives once it accepts again
            unavailable.set(true);
            p.send(topic, "0af7651916cd43dd8448eb211c80319c", spans("0af7651916cd43dd8448eb211c80319c", "POST /cart"));
            await().atMost(Duration.ofSeconds(30)).until(() ->
                    t.scrape().matches("(?s).*telemetry_trace_exports_total\\{result=\"failed\"\\} [1-9].*"));
            unavailable.set(false);
            await().atMost(Duration.ofSeconds(30)).until(() -> spanNames().contains("POST /cart"));
        }
    }

    @Test
    void aRequestTheCollectorRefusesForGoodIsDroppedAndTheSpansAroundItForwarded() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("refuse"), "a");
        String endpoint = "127.0.0.1:" + collector.actualPort();
        String topic = cfg.groupId() + ".traces";
        String trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        try (TelemetryInstance t = TelemetryInstance.start(cfg, c -> withOtlp(c, endpoint), Clock.systemUTC());
                EventProducer p = new EventProducer(kafka)) {
            p.send(topic, trace, spans(trace, "GET /before"));
            p.send(topic, trace, spans(trace, "poison"));
            p.send(topic, trace, spans(trace, "GET /after"));
            await().atMost(Duration.ofSeconds(60)).until(() -> spanNames().containsAll(
                    List.of("GET /before", "GET /after")));
            assertThat(spanNames()).doesNotContain("poison");
            await().atMost(Duration.ofSeconds(30)).until(() -> t.scrape().contains(
                    "telemetry_trace_records_rejected_total{reason=\"refused\"} 1.0"));
        }
    }

    private List<String> spanNames() {
        return traces.stream().flatMap(r -> r.getResourceSpansList().stream())
                .flatMap(rs -> rs.getScopeSpansList().stream()).flatMap(ss -> ss.getSpansList().stream())
                .map(Span::getName).toList();
    }

    /** What a waypoint publishes: one OTLP request with the spans of one trace. */
    private static ExportTraceServiceRequest spans(String traceId, String... names) {
        ScopeSpans.Builder scope = ScopeSpans.newBuilder();
        for (int i = 0; i < names.length; i++) {
            scope.addSpans(Span.newBuilder().setTraceId(ByteString.fromHex(traceId))
                    .setSpanId(ByteString.fromHex("00f067aa0ba902b" + i)).setName(names[i])
                    .setKind(Span.SpanKind.SPAN_KIND_SERVER).setStartTimeUnixNano(1_000_000L * (i + 1))
                    .setEndTimeUnixNano(2_000_000L * (i + 1)));
        }
        return ExportTraceServiceRequest.newBuilder().addResourceSpans(ResourceSpans.newBuilder()
                .setResource(Resource.newBuilder().addAttributes(KeyValue.newBuilder().setKey("service.instance.id")
                        .setValue(AnyValue.newBuilder().setStringValue("waypoint-0"))))
                .addScopeSpans(scope)).build();
    }

    private static TelemetryConfig withOtlp(TelemetryConfig c, String endpoint) {
        return new TelemetryConfig(c.logLevel(), c.drainDeadline(), c.admin(), c.kafka(), c.seriesTtl(),
                c.openSeriesTtl(), c.graph(),
                new TelemetryConfig.OtlpConfig(endpoint, Duration.ofMillis(300), Duration.ofSeconds(5), c.kafka().groupId() + ".traces"));
    }

    private Metric metric(String name) {
        if (received.isEmpty()) {
            return null;
        }
        ExportMetricsServiceRequest last = received.get(received.size() - 1);
        return last.getResourceMetrics(0).getScopeMetrics(0).getMetricsList().stream()
                .filter(m -> m.getName().equals(name)).findFirst().orElse(null);
    }

    private static Map<String, String> attributes(List<KeyValue> kvs) {
        return kvs.stream().collect(Collectors.toMap(KeyValue::getKey, kv -> kv.getValue().getStringValue()));
    }
}
