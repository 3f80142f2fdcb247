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
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
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

    private final List<ExportMetricsServiceRequest> received = new CopyOnWriteArrayList<>();
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
            await().atMost(Duration.ofSeconds(30)).until(() -> metric("istio_requests") != null
                    && metric("istio_requests").getSum().getDataPointsCount() == 1
                    && metric("istio_requests").getSum().getDataPoints(0).getAsInt() == 2);

            Metric requests = metric("istio_requests");
            assertThat(requests.getSum().getIsMonotonic()).isTrue();
            assertThat(requests.getSum().getAggregationTemporality())
                    .isEqualTo(AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE);
            Map<String, String> attrs = attributes(requests.getSum().getDataPoints(0).getAttributesList());
            assertThat(attrs).containsEntry("reporter", "waypoint").containsEntry("response_code", "200")
                    .containsEntry("source_workload", "productpage-v1")
                    .containsEntry("destination_service", "reviews.default.svc.cluster.local")
                    .containsEntry("connection_security_policy", "mutual_tls");

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

    private static TelemetryConfig withOtlp(TelemetryConfig c, String endpoint) {
        return new TelemetryConfig(c.logLevel(), c.drainDeadline(), c.admin(), c.kafka(), c.seriesTtl(), c.graph(),
                new TelemetryConfig.OtlpConfig(endpoint, Duration.ofMillis(300), Duration.ofSeconds(5)));
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
