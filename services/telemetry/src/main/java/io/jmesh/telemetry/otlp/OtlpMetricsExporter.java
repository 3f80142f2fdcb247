package io.jmesh.telemetry.otlp;

import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
import io.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pushes the aggregated metrics to an OpenTelemetry collector over OTLP/gRPC
 * ({@code opentelemetry.proto.collector.metrics.v1.MetricsService/Export}) every {@code interval}.
 *
 * <p>The requests are built on a worker thread (they can be large; {@link OtlpMetricMapper} keeps each under the
 * Collector's default 4 MiB limit) and sent from the event loop one after another; one export is in flight at a
 * time, a tick that finds one still running is skipped. Results are counted in
 * {@code telemetry_otlp_exports_total{result}}.
 */
public final class OtlpMetricsExporter {

    private static final Logger log = LoggerFactory.getLogger(OtlpMetricsExporter.class);

    /** The OTLP metrics export method, built from its name and the OTLP protobuf messages. */
    static final ServiceMethod<ExportMetricsServiceResponse, ExportMetricsServiceRequest> EXPORT =
            ServiceMethod.client(ServiceName.create("opentelemetry.proto.collector.metrics.v1.MetricsService"),
                    "Export", GrpcMessageEncoder.encoder(),
                    GrpcMessageDecoder.decoder(ExportMetricsServiceResponse.newBuilder()));

    private final Vertx vertx;
    private final OtlpConfig config;
    private final Supplier<MeshTotals> totals;
    private final Clock clock;
    private final OtlpChannel channel;
    private final GrpcClient client;
    private final SocketAddress collector;
    private final Counter exports;
    private final String instanceId;
    private final StreamStarts starts = new StreamStarts();
    private final AtomicBoolean inFlight = new AtomicBoolean();
    private final long timer;

    private OtlpMetricsExporter(Vertx vertx, OtlpConfig config, Supplier<MeshTotals> totals, Clock clock,
            PrometheusRegistry registry, Counter keepaliveTimeouts) {
        this.vertx = vertx;
        this.config = config;
        this.totals = totals;
        this.clock = clock;
        this.instanceId = ServiceInstanceId.of(config.serviceInstanceId());
        this.collector = address(config.endpoint());
        this.channel = new OtlpChannel(vertx, config, keepaliveTimeouts);
        this.client = channel.grpc();
        this.exports = Counter.builder().name("telemetry_otlp_exports_total")
                .help("OTLP metric exports, by result (ok, failed, skipped)").labelNames("result").register(registry);
        this.timer = vertx.setPeriodic(config.interval().toMillis(), id -> exportNow());
    }

    /**
     * Starts periodic exports to {@code config.endpoint()}, registering
     * {@code telemetry_grpc_keepalive_timeouts_total} in {@code registry}.
     */
    public static OtlpMetricsExporter start(Vertx vertx, OtlpConfig config, Supplier<MeshTotals> totals, Clock clock,
            PrometheusRegistry registry) {
        return start(vertx, config, totals, clock, registry, Http2Liveness.counter(registry, "telemetry"));
    }

    /** Starts periodic exports to {@code config.endpoint()}; PINGs unanswered counted in {@code keepaliveTimeouts}. */
    public static OtlpMetricsExporter start(Vertx vertx, OtlpConfig config, Supplier<MeshTotals> totals, Clock clock,
            PrometheusRegistry registry, Counter keepaliveTimeouts) {
        return new OtlpMetricsExporter(vertx, config, totals, clock, registry, keepaliveTimeouts);
    }

    /** Exports once now (unless an export is in flight); completes when the collector answered. */
    public Future<Void> exportNow() {
        if (!inFlight.compareAndSet(false, true)) {
            exports.labelValues("skipped").inc();
            return Future.succeededFuture();
        }
        // the inFlight hand-over orders these worker-thread uses of starts: no two exports run at once
        Future<Void> done = vertx.executeBlocking(() -> {
            starts.begin();
            return OtlpMetricMapper.map(totals.get(), instanceId, starts, nanos(clock));
        }, false).compose(requests -> sendAll(requests, 0));
        return done.andThen(ar -> {
            if (ar.succeeded()) {
                starts.accepted();
            }
            inFlight.set(false);
            if (ar.succeeded()) {
                exports.labelValues("ok").inc();
            } else {
                exports.labelValues("failed").inc();
                log.atWarn().addKeyValue("endpoint", config.endpoint())
                        .log("otlp export failed: {}", ar.cause().toString());
            }
        });
    }

    /** The requests one after another (each under its own timeout); the first failure ends the export. */
    private Future<Void> sendAll(List<ExportMetricsServiceRequest> requests, int from) {
        if (from == requests.size()) {
            return Future.succeededFuture();
        }
        return send(requests.get(from)).timeout(config.timeout().toMillis(), TimeUnit.MILLISECONDS)
                .recover(err -> requests.size() == 1 ? Future.failedFuture(err) : Future.failedFuture(
                        new IllegalStateException("request " + (from + 1) + " of " + requests.size() + ": " + err)))
                .compose(ok -> sendAll(requests, from + 1));
    }

    private Future<Void> send(ExportMetricsServiceRequest request) {
        return client.request(collector, EXPORT).compose(call -> {
            call.end(request);
            return call.response();
        }).compose(GrpcClientResponse::last).compose(resp -> {
            if (resp.hasPartialSuccess() && resp.getPartialSuccess().getRejectedDataPoints() > 0) {
                return Future.failedFuture("collector rejected " + resp.getPartialSuccess().getRejectedDataPoints()
                        + " data points: " + resp.getPartialSuccess().getErrorMessage());
            }
            return Future.<Void>succeededFuture();
        }).recover(err -> Future.failedFuture(err instanceof io.vertx.grpc.client.InvalidStatusException s
                ? new IllegalStateException("collector answered " + s.actualStatus()) : err));
    }

    public Future<Void> close() {
        vertx.cancelTimer(timer);
        return channel.close();
    }

    private static long nanos(Clock clock) {
        return TimeUnit.MILLISECONDS.toNanos(clock.millis());
    }

    static SocketAddress address(String endpoint) {
        int colon = endpoint.lastIndexOf(':');
        if (colon <= 0 || colon == endpoint.length() - 1) {
            throw new IllegalArgumentException("otlp.endpoint: " + endpoint + " (expected: host:port)");
        }
        try {
            int port = Integer.parseInt(endpoint.substring(colon + 1));
            return SocketAddress.inetSocketAddress(port, endpoint.substring(0, colon));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("otlp.endpoint: " + endpoint + " (expected: host:port)");
        }
    }

}
