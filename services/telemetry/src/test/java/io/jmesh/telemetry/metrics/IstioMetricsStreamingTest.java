package io.jmesh.telemetry.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.core.admin.AdminServer;
import io.jmesh.core.admin.Exposition;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.testing.prometheus.ExpositionCheck;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code /metrics} writes the Istio families series by series from the published totals rather than from one
 * snapshot per family (each series and its labels copied into objects first: ~40 MiB per family at 100,000 series,
 * per concurrent scrape), with the same bytes as the snapshot writers.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class IstioMetricsStreamingTest {

    private static final ExpositionFormats FORMATS = ExpositionFormats.init();

    @Test
    void aScrapeOfManySeriesAllocatesAFewBuffersNotACopyOfEachSeries() throws Exception {
        int tcpSeries = 10_000;
        int requestSeries = 1_000;
        MeshTotals totals = MeshTotals.of(List.of(tcp(0, tcpSeries / 2), tcp(tcpSeries / 2, tcpSeries / 2),
                requests(0, requestSeries)));
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new IstioMetrics(() -> totals));
        Exposition exposition = new Exposition(registry);
        ExpositionFormatWriter text = FORMATS.getPrometheusTextFormatWriter();

        long first = allocatedBy(() -> exposition.write(OutputStream.nullOutputStream(), text));
        long again = allocatedBy(() -> exposition.write(OutputStream.nullOutputStream(), text));

        int series = tcpSeries + requestSeries;
        // the snapshot writers allocated ~370 MB here (~34 KB per series over the nine families); now only the
        // first scrape of published totals allocates per series: it sorts them into exposition order, once
        assertThat(first).as("bytes allocated by the first scrape of %d series", series)
                .isLessThan(256L * 1024 + 64L * series);
        assertThat(again).as("bytes allocated by a scrape of %d series (first: %d)", series, first)
                .isLessThan(256L * 1024);
    }

    @Test
    void theStreamedTextIsTheSnapshotWritersTextByteForByte() throws Exception {
        PrometheusRegistry registry = everyIstioFamilyWithAwkwardLabels();
        for (ExpositionFormatWriter writer : List.of(FORMATS.getPrometheusTextFormatWriter(),
                FORMATS.getOpenMetricsTextFormatWriter())) {
            ByteArrayOutputStream streamed = new ByteArrayOutputStream();
            new Exposition(registry).write(streamed, writer);
            ByteArrayOutputStream snapshots = new ByteArrayOutputStream();
            writer.write(snapshots, registry.scrape());
            assertThat(streamed.toString(StandardCharsets.UTF_8)).as(writer.getContentType())
                    .contains("istio_request_duration_milliseconds_bucket{", "le=\"+Inf\"", "1.2345678901E10",
                            "quote\\\"d", "app\\\\with\\\\backslashes", "v\\n2", "日本", "😀", "lone?surrogate",
                            "zzz_last_total 2.0")
                    .isEqualTo(snapshots.toString(StandardCharsets.UTF_8));
        }
    }

    /**
     * The streamed Istio families are a valid exposition by Prometheus' promtool, awkward label values included;
     * in OpenMetrics (which promtool cannot read) each family's samples are together and no series is twice.
     */
    @Test
    void theStreamedTextIsAValidExposition() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        PrometheusRegistry registry = everyIstioFamilyWithAwkwardLabels();
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        new Exposition(registry).write(text, FORMATS.getPrometheusTextFormatWriter());
        // Istio's name (its standard metrics): promtool would have it in seconds, dashboards read it as it is
        Set<String> istioNames = Set.of(
                "istio_request_duration_milliseconds use base unit \"seconds\" instead of \"milliseconds\"");
        assertThat(ExpositionCheck.problems(text.toString(StandardCharsets.UTF_8), istioNames)).isEmpty();
        ByteArrayOutputStream openMetrics = new ByteArrayOutputStream();
        new Exposition(registry).write(openMetrics, FORMATS.getOpenMetricsTextFormatWriter());
        assertThat(ExpositionCheck.structureProblems(openMetrics.toString(StandardCharsets.UTF_8))).isEmpty();
    }

    /** Every Istio family, with label values every text format escapes, over partitions, among other families. */
    private static PrometheusRegistry everyIstioFamilyWithAwkwardLabels() {
        PartitionAggregate p0 = new PartitionAggregate(0);
        PartitionAggregate p1 = new PartitionAggregate(0);
        PartitionAggregate p2 = new PartitionAggregate(0);
        List<WorkloadInfo> odd = List.of(Events.workload("quote\"d", "app\\with\\backslashes", "v\n2"),
                Events.workload("unicodé-ñ", "日本", "v1"),
                Events.workload("emoji-😀", "lone\uD800surrogate", "v3"), Events.REVIEWS, Events.RATINGS);
        for (int i = 0; i < odd.size(); i++) {
            WorkloadInfo dst = odd.get(i);
            PartitionAggregate p = i % 2 == 0 ? p0 : p1;
            p.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, dst, "reviews"), 1000);
            p0.add(Events.opened(Reporter.DESTINATION, Events.PRODUCTPAGE, dst, "reviews"), 1000);
            p.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, dst, "reviews", 12_345_678_901L, 3), 1000);
            p2.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, dst, "reviews", 200, 7), 1000);
            p2.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, dst, "reviews", 503, 0).toBuilder()
                    .setDuration(com.google.protobuf.Duration.newBuilder().setNanos(1_234_567)).build(), 1000);
            p0.add(Events.request(Reporter.WAYPOINT, dst, Events.PRODUCTPAGE, "productpage", 404, 4_000_000), 1000);
        }
        for (int i = 0; i < 300; i++) {
            p1.add(Events.opened(Reporter.SOURCE, Events.workload("w-" + i, "a" + (i % 7), "v" + (i % 3)),
                    Events.REVIEWS, "reviews"), 1000);
        }
        MeshTotals totals = MeshTotals.of(List.of(p0, p1, p2, new PartitionAggregate(0)));
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new IstioMetrics(() -> totals));
        Counter.builder().name("admin_something_total").help("another family").register(registry).inc();
        Counter.builder().name("zzz_last_total").help("the last family").register(registry).inc(2);
        return registry;
    }

    @Test
    void seriesComingAndGoingDuringScrapesLeaveEveryLineWellFormed() throws Exception {
        List<MeshTotals> versions = new ArrayList<>();
        for (int v = 0; v < 4; v++) { // each version has some series of the last and new ones, on other partitions
            versions.add(MeshTotals.of(List.of(tcp(v * 500, 2_000 + v * 300), requests(v * 50, 200))));
        }
        versions.add(MeshTotals.EMPTY);
        AtomicReference<MeshTotals> published = new AtomicReference<>(versions.get(0));
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new IstioMetrics(published::get));
        Vertx vertx = Vertx.vertx();
        AtomicBoolean scraping = new AtomicBoolean(true);
        Thread ingest = new Thread(() -> { // publishes other totals all along, as the ingest thread after commits
            for (int i = 0; i < 10_000_000 && scraping.get(); i++) {
                published.set(versions.get(i % versions.size()));
                Thread.onSpinWait();
            }
        }, "publisher");
        try {
            AdminServer server = AdminServer.builder(vertx).host("127.0.0.1").port(0).metrics(registry).build()
                    .start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            ingest.start();
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String label = "[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\.)*\"";
            Pattern sample = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*(\\{" + label + "(," + label + ")*})?"
                    + " (-?[0-9.]+(E[0-9]+)?|\\+Inf)");
            Pattern comment = Pattern.compile("# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*");
            int samples = 0;
            for (int scrape = 0; scrape < 6; scrape++) {
                boolean openMetrics = scrape % 2 == 1;
                HttpRequest.Builder req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                        + "/metrics")).timeout(Duration.ofSeconds(60));
                if (openMetrics) {
                    req.header("accept", "application/openmetrics-text; version=1.0.0");
                }
                String body = http.send(req.build(), HttpResponse.BodyHandlers.ofString()).body();
                List<String> lines = List.of(body.split("\n", -1));
                assertThat(lines.get(lines.size() - 1)).as("the text ends with a newline").isEmpty();
                Set<String> headers = new HashSet<>();
                for (int i = 0; i < lines.size() - 1; i++) {
                    String line = lines.get(i);
                    if (openMetrics && i == lines.size() - 2) {
                        assertThat(line).isEqualTo("# EOF");
                    } else if (line.startsWith("#")) {
                        assertThat(line).matches(comment);
                        assertThat(headers.add(line)).as("header seen once: %s", line).isTrue();
                    } else {
                        assertThat(line).matches(sample);
                        samples++;
                    }
                }
            }
            assertThat(samples).as("samples read").isGreaterThan(0);
        } finally {
            scraping.set(false);
            ingest.join(10_000);
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /** {@code count} TCP series of destinations {@code first}..., on one partition. */
    private static PartitionAggregate tcp(int first, int count) {
        PartitionAggregate p = new PartitionAggregate(0);
        for (int i = first; i < first + count; i++) {
            p.add(Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.workload("reviews-" + i, "reviews", "v2"),
                    "reviews", 1_000_000L * i, i), 1000);
        }
        return p;
    }

    private static PartitionAggregate requests(int first, int count) {
        PartitionAggregate p = new PartitionAggregate(0);
        for (int i = first; i < first + count; i++) {
            p.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.workload("ratings-" + i, "ratings",
                    "v1"), "ratings", 200, i % 100), 1000);
        }
        return p;
    }

    private interface Scrape {
        void run() throws Exception;
    }

    private static long allocatedBy(Scrape scrape) throws Exception {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        scrape.run();
        return threads.getCurrentThreadAllocatedBytes() - before;
    }
}
