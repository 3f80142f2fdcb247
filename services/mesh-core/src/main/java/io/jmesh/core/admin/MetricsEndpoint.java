package io.jmesh.core.admin;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.io.IOException;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Prometheus exposition of a registry, in the format the scraper's Accept header asks for, written as it is
 * produced.
 *
 * <p>A large registry (telemetry serves one series per Istio label set and partition: 100,000 series are hundreds
 * of MiB of text) used to be written into one buffer and then handed to the connection whole, per scrape and per
 * concurrent scraper, with the snapshot of every family collected on the event loop. Now each family's snapshot
 * and its text are produced in turn on a worker thread and go out in chunks of at most
 * {@link ExpositionStream#CHUNK_BYTES}, each written only once the connection has drained the previous ones: a
 * scrape holds the snapshot of one metric family plus about one chunk and the connection's write queue, whatever
 * the scraper's pace. (Prometheus client_java's own HTTPServer writes the text into a buffer of the whole body on a
 * pool thread, then copies it to the connection.)
 *
 * <p>At most {@link #MAX_CONCURRENT_SCRAPES} scrapes run at once; another is answered 503 with {@code Retry-After}
 * and counted in {@code admin_metrics_scrapes_rejected_total}, rather than holding one more snapshot.
 */
final class MetricsEndpoint implements Handler<HttpServerRequest> {

    /** Two Prometheus servers of an HA pair scrape each target about at once; a third at the same time is refused. */
    static final int MAX_CONCURRENT_SCRAPES = 2;

    private final Vertx vertx;
    private final PrometheusRegistry registry;
    private final ExpositionFormats formats = ExpositionFormats.init();
    private final AtomicInteger inProgress = new AtomicInteger();
    private final Counter rejected;

    MetricsEndpoint(Vertx vertx, PrometheusRegistry registry) {
        this.vertx = vertx;
        this.registry = registry;
        this.rejected = Counter.builder().name("admin_metrics_scrapes_rejected_total")
                .help("Scrapes of /metrics answered 503 because " + MAX_CONCURRENT_SCRAPES
                        + " were already in progress")
                .register(registry);
    }

    /**
     * Writes the registry one metric family at a time, so that a scrape holds the snapshot of one family rather
     * than of all (telemetry's five TCP counters over 100,000 series are ~190 MiB of snapshot together). Families
     * come in name order, as one {@link MetricSnapshots} sorts them; OpenMetrics' single {@code # EOF} ends the
     * whole text. A family is collected at the moment it is written: families of one scrape may come from
     * different moments, as with any exporter whose collectors are read one after another.
     */
    private void writeByFamily(ExpositionFormatWriter writer, ExpositionStream out) throws IOException {
        SortedSet<String> names = new TreeSet<>();
        registry.scrape(name -> {
            names.add(name); // only listed: a collector that declares its names is not collected for this
            return false;
        });
        EofHeldBack body = new EofHeldBack(out, writer.getContentType().startsWith("application/openmetrics-text"));
        for (String name : names) {
            MetricSnapshots family = registry.scrape(name::equals);
            if (family.size() > 0) {
                writer.write(body, family);
                body.endOfFamily();
            }
        }
        body.finish();
    }

    @Override
    public void handle(HttpServerRequest req) {
        HttpServerResponse res = req.response();
        if (inProgress.incrementAndGet() > MAX_CONCURRENT_SCRAPES) {
            inProgress.decrementAndGet();
            rejected.inc();
            res.setStatusCode(503).putHeader("content-type", "text/plain").putHeader("retry-after", "1")
                    .end("metrics: " + MAX_CONCURRENT_SCRAPES + " scrapes of " + req.path()
                            + " already in progress (the most served at once); retry\n");
            return;
        }
        ExpositionFormatWriter writer = formats.findWriter(req.getHeader("accept"));
        Context context = vertx.getOrCreateContext();
        res.setChunked(true).putHeader("content-type", writer.getContentType());
        ExpositionStream out = new ExpositionStream(context, res);
        res.closeHandler(v -> out.abort("the scraper closed the connection"));
        res.exceptionHandler(e -> out.abort("connection error: " + e));
        vertx.executeBlocking(() -> {
            writeByFamily(writer, out);
            out.finish();
            return null;
        }, false).onComplete(done -> {
            inProgress.decrementAndGet();
            if (done.succeeded()) {
                res.end();
            } else if (!res.headWritten()) {
                res.setChunked(false).setStatusCode(500).putHeader("content-type", "text/plain")
                        .end("metrics: " + done.cause() + "\n");
            } else if (!res.ended()) {
                // part of the text is out: a scraper must see a failed scrape, not a well-formed partial one
                req.connection().close();
            }
        });
    }
}
