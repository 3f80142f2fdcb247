package io.jmesh.core.admin;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Prometheus exposition of a registry, in the format the scraper's Accept header asks for, written as it is
 * produced.
 *
 * <p>A large registry (telemetry serves one series per Istio label set and partition: 100,000 series are hundreds
 * of MiB of text) used to be written into one buffer and then handed to the connection whole, per scrape and per
 * concurrent scraper, with the snapshot of every family collected on the event loop. Now each family ({@link Exposition}) is
 * produced in turn on a worker thread and goes out in chunks of at most {@link ExpositionStream#CHUNK_BYTES}, each
 * written only once the connection has drained the previous ones: a scrape holds at most the snapshot of one
 * metric family (nothing per series for a family its collector writes itself, {@link FamilyScrape}) plus about one
 * chunk and the connection's write queue, whatever the scraper's pace. (Prometheus client_java's own HTTPServer writes the text into a buffer of the whole body on a
 * pool thread, then copies it to the connection.)
 *
 * <p>At most {@code maxConcurrentScrapes} scrapes run at once ({@code admin.maxConcurrentScrapes}, 2 by default: the
 * two Prometheus servers of an HA pair); another is answered 503 with {@code Retry-After} and counted in
 * {@code admin_metrics_scrapes_rejected_total}, rather than holding one more snapshot.
 */
final class MetricsEndpoint implements Handler<HttpServerRequest> {

    private final int maxConcurrentScrapes;

    private final Vertx vertx;
    private final Exposition exposition;
    private final ExpositionFormats formats = ExpositionFormats.init();
    private final AtomicInteger inProgress = new AtomicInteger();
    private final Counter rejected;

    MetricsEndpoint(Vertx vertx, PrometheusRegistry registry, int maxConcurrentScrapes) {
        this.vertx = vertx;
        this.maxConcurrentScrapes = maxConcurrentScrapes;
        this.exposition = new Exposition(registry);
        this.rejected = Counter.builder().name("admin_metrics_scrapes_rejected_total")
                .help("Scrapes of /metrics answered 503 because admin.maxConcurrentScrapes were already in progress")
                .register(registry);
    }

    @Override
    public void handle(HttpServerRequest req) {
        HttpServerResponse res = req.response();
        if (inProgress.incrementAndGet() > maxConcurrentScrapes) {
            inProgress.decrementAndGet();
            rejected.inc();
            res.setStatusCode(503).putHeader("content-type", "text/plain").putHeader("retry-after", "1")
                    .end("metrics: " + maxConcurrentScrapes + " scrapes of " + req.path()
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
            exposition.write(out, writer);
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
