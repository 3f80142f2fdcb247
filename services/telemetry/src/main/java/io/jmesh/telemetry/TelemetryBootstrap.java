package io.jmesh.telemetry;

import io.jmesh.core.admin.AdminServer;
import io.jmesh.core.admin.Readiness;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.graph.GraphRoutes;
import io.jmesh.telemetry.graph.ServiceGraph;
import io.jmesh.telemetry.ingest.EventIngestor;
import io.jmesh.telemetry.metrics.IstioMetrics;
import io.jmesh.telemetry.otlp.OtlpMetricsExporter;
import io.jmesh.telemetry.otlp.TraceForwarder;
import io.prometheus.metrics.core.metrics.Counter;
import io.vertx.core.Future;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wires telemetry together: the ingest thread (Kafka → per-partition aggregates, exactly once), the Istio
 * metrics it publishes on {@code /metrics}, the service graph on {@code /graph} and {@code /graph/ui}, the
 * OTLP metrics exporter and the trace forwarder.
 */
public final class TelemetryBootstrap implements MeshService {

    private static final Logger log = LoggerFactory.getLogger(TelemetryBootstrap.class);

    private final TelemetryConfig config;
    private final ServiceContext context;
    private final Clock clock;
    private final ServiceGraph graph;
    private volatile EventIngestor ingestor;
    private volatile OtlpMetricsExporter exporter;
    private volatile TraceForwarder traces;

    public TelemetryBootstrap(TelemetryConfig config, ServiceContext context) {
        this(config, context, Clock.systemUTC());
    }

    /** As the service runs, with an injected clock (series expiry and the graph window use it). */
    public TelemetryBootstrap(TelemetryConfig config, ServiceContext context, Clock clock) {
        this.config = config;
        this.context = context;
        this.clock = clock;
        this.graph = new ServiceGraph(config.graph().bucket(), config.graph().retention());
    }

    @Override
    public void adminRoutes(AdminServer.Builder admin) {
        GraphRoutes routes = new GraphRoutes(graph, clock, context.metrics());
        admin.route("/graph", routes.json()).route("/graph/ui", routes.ui());
    }

    @Override
    public Future<Void> start() {
        context.metrics().register(new IstioMetrics(this::totals));
        Readiness.Task kafka = context.readiness().register("kafka");
        if (config.kafka().enabled()) {
            EventIngestor i = EventIngestor.start(config.kafka(), config.seriesTtl(), config.openSeriesTtl(),
                    config.metrics().removed(), clock, graph, context.metrics());
            ingestor = i;
            // ready once ingesting; not ready again if an error stops the ingest thread (nothing counted then)
            i.ready().whenComplete((v, err) -> {
                if (err == null) {
                    kafka.complete();
                }
            });
            i.stopped().whenComplete((v, err) -> {
                if (err != null) {
                    kafka.reset();
                }
            });
        } else {
            log.info("kafka.bootstrapServers is empty: nothing to ingest");
            kafka.complete();
        }
        if (config.otlp().enabled()) {
            // one counter for both OTLP clients' connections (peer "otlp")
            Counter keepaliveTimeouts = Http2Liveness.counter(context.metrics(), "telemetry");
            exporter = OtlpMetricsExporter.start(context.vertx(), config.otlp(), this::totals, clock,
                    context.metrics(), keepaliveTimeouts);
            if (config.otlp().forwardsTraces() && config.kafka().enabled()) {
                traces = TraceForwarder.start(context.vertx(), config.kafka(), config.otlp(), context.metrics(),
                        keepaliveTimeouts);
            }
        }
        return Future.succeededFuture();
    }

    @Override
    public Future<Void> drain() {
        return stopIngest();
    }

    @Override
    public Future<Void> close() {
        OtlpMetricsExporter e = exporter;
        exporter = null;
        Future<Void> otlp = e == null ? Future.succeededFuture() : e.close();
        TraceForwarder t = traces;
        traces = null;
        Future<Void> forwarding = t == null ? Future.succeededFuture()
                : context.vertx().executeBlocking(() -> {
                    t.close(); // joins its thread: never on an event loop
                    return null;
                }, false);
        return stopIngest().compose(v -> forwarding).compose(v -> otlp);
    }

    /** What this replica counted, as last committed. */
    public MeshTotals totals() {
        EventIngestor i = ingestor;
        return i == null ? MeshTotals.EMPTY : i.totals();
    }

    public ServiceGraph graph() {
        return graph;
    }

    /** The ingest pipeline, or null when Kafka is disabled. */
    public EventIngestor ingestor() {
        return ingestor;
    }

    TelemetryConfig config() {
        return config;
    }

    private Future<Void> stopIngest() {
        EventIngestor i = ingestor;
        if (i == null) {
            return Future.succeededFuture();
        }
        // joins the ingest thread: never on an event loop
        return context.vertx().executeBlocking(() -> {
            i.close();
            return null;
        }, false);
    }
}
