package io.jmesh.telemetry.otlp;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.ingest.ConsumerThread;
import io.jmesh.telemetry.TelemetryConfig.OtlpConfig;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.client.InvalidStatusException;
import io.vertx.grpc.common.GrpcErrorException;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards the spans waypoints publish to the OTLP collector, at least once.
 *
 * <p>How spans arrive: records of the traces topic whose value is an OTLP {@code ExportTraceServiceRequest}
 * (what the OpenTelemetry Collector's Kafka exporter writes with the {@code otlp_proto} encoding), keyed by
 * trace id. Each poll's records are merged into one {@code TraceService/Export} call; the offsets are committed
 * only after the collector accepted it, and when it did not with a retryable status, the batch is read again
 * after a pause. A status OTLP calls not retryable (e.g. INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for a message
 * too large) makes each record be exported alone, and the ones refused alone are dropped ({@code refused}).
 * Records that are not such a request are counted ({@code telemetry_trace_records_rejected_total{reason}}),
 * logged and skipped.
 *
 * <p>Threading: its own consumer thread (group {@code <groupId>-traces}); it waits for the gRPC answer there,
 * never on an event loop.
 */
public final class TraceForwarder implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TraceForwarder.class);
    private static final long RETRY_BACKOFF_MILLIS = 1000;

    static final ServiceMethod<ExportTraceServiceResponse, ExportTraceServiceRequest> EXPORT =
            ServiceMethod.client(ServiceName.create("opentelemetry.proto.collector.trace.v1.TraceService"), "Export",
                    GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(ExportTraceServiceResponse.newBuilder()));

    private final IngestConfig kafka;
    private final OtlpConfig otlp;
    private final OtlpChannel channel;
    private final GrpcClient client;
    private final SocketAddress collector;
    private final Counter spans;
    private final Counter exports;
    private final Counter rejected;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile KafkaConsumer<byte[], byte[]> consumer;

    private TraceForwarder(Vertx vertx, IngestConfig kafka, OtlpConfig otlp, PrometheusRegistry registry,
            Counter keepaliveTimeouts) {
        this.kafka = kafka;
        this.otlp = otlp;
        this.collector = OtlpMetricsExporter.address(otlp.endpoint());
        this.channel = new OtlpChannel(vertx, otlp, keepaliveTimeouts);
        this.client = channel.grpc();
        this.spans = Counter.builder().name("telemetry_spans_forwarded_total")
                .help("Spans the OTLP collector accepted").register(registry);
        this.exports = Counter.builder().name("telemetry_trace_exports_total")
                .help("TraceService/Export calls, by result (ok; failed: retried; refused: not retryable, split or"
                        + " dropped)")
                .labelNames("result").register(registry);
        this.rejected = Counter.builder().name("telemetry_trace_records_rejected_total")
                .help("Records of the traces topic that are not OTLP trace requests, by reason")
                .labelNames("reason").register(registry);
        this.thread = new Thread(this::run, "telemetry-traces");
        this.thread.setDaemon(true);
    }

    /** Starts forwarding {@code otlp.tracesTopic()} to {@code otlp.endpoint()}. */
    public static TraceForwarder start(Vertx vertx, IngestConfig kafka, OtlpConfig otlp, PrometheusRegistry registry) {
        return start(vertx, kafka, otlp, registry, Http2Liveness.counter(registry, "telemetry"));
    }

    /** As {@link #start(Vertx, IngestConfig, OtlpConfig, PrometheusRegistry)}, PINGs counted in the given counter. */
    public static TraceForwarder start(Vertx vertx, IngestConfig kafka, OtlpConfig otlp, PrometheusRegistry registry,
            Counter keepaliveTimeouts) {
        TraceForwarder f = new TraceForwarder(vertx, kafka, otlp, registry, keepaliveTimeouts);
        f.thread.start();
        return f;
    }

    /** Stops after the batch in flight (blocks up to ~15 s: not on an event loop). */
    @Override
    public void close() {
        running = false;
        ConsumerThread.stop(consumer, thread, Duration.ofSeconds(15));
        channel.close();
    }

    private void run() {
        try (KafkaConsumer<byte[], byte[]> c = newConsumer()) {
            consumer = c;
            ensureTopic();
            c.subscribe(List.of(otlp.tracesTopic()));
            while (running) {
                try {
                    forward(c, c.poll(Duration.ofMillis(200)));
                } catch (WakeupException e) {
                    // close() asked us to stop
                } catch (KafkaException e) {
                    log.atWarn().log("traces: kafka error, retrying: {}", e.toString());
                    pause();
                }
            }
        } catch (RuntimeException e) {
            log.atError().setCause(e).log("trace forwarding stopped: {}", e.getMessage());
        }
    }

    /** One record's request, and how many spans it holds. */
    private record Item(ConsumerRecord<byte[], byte[]> record, ExportTraceServiceRequest request, long spans) {}

    /** What the collector made of an export. */
    private enum Outcome { ACCEPTED, RETRY, REFUSED }

    /**
     * gRPC statuses after which OTLP says the same data may succeed later (the rest are permanent: the data is
     * dropped). RESOURCE_EXHAUSTED is retryable only with RetryInfo, which we cannot read: a message over the
     * collector's size limit answers it too, and would then be retried forever.
     */
    private static final java.util.Set<GrpcStatus> RETRYABLE = java.util.EnumSet.of(GrpcStatus.CANCELLED,
            GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.ABORTED, GrpcStatus.OUT_OF_RANGE, GrpcStatus.UNAVAILABLE,
            GrpcStatus.DATA_LOSS);

    private void forward(KafkaConsumer<byte[], byte[]> c, ConsumerRecords<byte[], byte[]> records) {
        if (records.isEmpty()) {
            return;
        }
        List<Item> items = new ArrayList<>();
        Map<TopicPartition, Long> first = new HashMap<>();
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            first.putIfAbsent(tp, r.offset());
            next.put(tp, new OffsetAndMetadata(r.offset() + 1));
            try {
                ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(r.value() == null ? new byte[0] : r.value());
                long n = count(req);
                if (n == 0) {
                    reject(r, "no_spans", "ExportTraceServiceRequest.resource_spans: no spans (expected: at least one)");
                    continue;
                }
                items.add(new Item(r, req, n));
            } catch (InvalidProtocolBufferException e) {
                reject(r, "undecodable", "not an OTLP ExportTraceServiceRequest: " + e.getMessage());
            }
        }
        if (!exportAll(items)) {
            // read the same records again after a pause: nothing is committed, nothing is lost
            first.forEach((tp, offset) -> {
                if (c.assignment().contains(tp)) {
                    c.seek(tp, offset);
                }
            });
            pause();
            return;
        }
        c.commitSync(next);
    }

    /**
     * Exports {@code items} in one call; when the collector refuses it for good, each item alone, so that one
     * refused request (malformed, or too large for the collector) is dropped and counted, not retried forever
     * with the spans around it. False when the collector should be asked again later.
     */
    private boolean exportAll(List<Item> items) {
        if (items.isEmpty()) {
            return true;
        }
        ExportTraceServiceRequest.Builder batch = ExportTraceServiceRequest.newBuilder();
        long n = 0;
        for (Item i : items) {
            batch.addAllResourceSpans(i.request().getResourceSpansList());
            n += i.spans();
        }
        Outcome outcome = export(batch.build());
        if (outcome == Outcome.ACCEPTED) {
            spans.inc(n);
            return true;
        }
        if (outcome == Outcome.RETRY) {
            return false;
        }
        if (items.size() == 1) {
            reject(items.get(0).record(), "refused", "the collector refused it for good (OTLP: not retryable)");
            return true;
        }
        for (Item i : items) {
            if (!exportAll(List.of(i))) {
                return false;
            }
        }
        return true;
    }

    private Outcome export(ExportTraceServiceRequest request) {
        Future<Void> call = client.request(collector, EXPORT).compose(req -> {
            req.end(request);
            return req.response();
        }).compose(GrpcClientResponse::last).mapEmpty();
        try {
            call.toCompletionStage().toCompletableFuture().get(otlp.timeout().toMillis(), TimeUnit.MILLISECONDS);
            exports.labelValues("ok").inc();
            return Outcome.ACCEPTED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
            return Outcome.RETRY;
        } catch (Exception e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            GrpcStatus status = cause instanceof InvalidStatusException s ? s.actualStatus()
                    : cause instanceof GrpcErrorException g ? g.status() : null;
            boolean permanent = status != null && !RETRYABLE.contains(status);
            exports.labelValues(permanent ? "refused" : "failed").inc();
            log.atWarn().addKeyValue("endpoint", otlp.endpoint()).log("trace export {}: {}",
                    permanent ? "refused, not retryable" : "failed, will retry", cause.toString());
            return permanent ? Outcome.REFUSED : Outcome.RETRY;
        }
    }

    private void reject(ConsumerRecord<byte[], byte[]> r, String reason, String detail) {
        rejected.labelValues(reason).inc();
        log.atWarn().addKeyValue("topic", r.topic()).addKeyValue("partition", r.partition())
                .addKeyValue("offset", r.offset()).addKeyValue("reason", reason).log("trace record skipped: {}", detail);
    }

    private static long count(ExportTraceServiceRequest req) {
        long n = 0;
        for (ResourceSpans rs : req.getResourceSpansList()) {
            for (ScopeSpans ss : rs.getScopeSpansList()) {
                n += ss.getSpansCount();
            }
        }
        return n;
    }

    private void ensureTopic() {
        if (!kafka.createTopics()) {
            return;
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        try (Admin admin = Admin.create(p)) {
            short replicas = kafka.replication().replicas(admin, Duration.ofSeconds(30));
            admin.createTopics(List.of(new NewTopic(otlp.tracesTopic(), kafka.partitions(), replicas)
                    .configs(TopicReplication.createConfigs(replicas, Map.of())))).all().get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                log.atWarn().log("cannot create {}: {}", otlp.tracesTopic(), e.getCause().toString());
            }
        } catch (java.util.concurrent.TimeoutException e) {
            log.atWarn().log("cannot create {}: {}", otlp.tracesTopic(), e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void pause() {
        try {
            Thread.sleep(RETRY_BACKOFF_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    private KafkaConsumer<byte[], byte[]> newConsumer() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, kafka.groupId() + "-traces");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 500);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }
}
