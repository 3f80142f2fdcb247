package io.jmesh.core.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jmesh.testing.prometheus.ExpositionCheck;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.core.metrics.Info;
import io.prometheus.metrics.core.metrics.StateSet;
import io.prometheus.metrics.core.metrics.Summary;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code /metrics} of a registry holding every kind of family a service registers (counters with and without
 * labels, gauges, classic histograms, summaries, info, state sets, and families a collector streams itself, as
 * telemetry's Istio families) is a valid exposition by Prometheus' own {@code promtool check metrics}, with label
 * values and help that need escaping; and in OpenMetrics, every family's samples are together and no series is
 * written twice.
 */
@Timeout(60)
class MetricsExpositionValidityTest {

    /** Every character the text formats escape, and some they pass through. */
    private static final String AWKWARD = "a \"quoted\" \\path\\ on\ntwo lines, {braces} = ü";

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private Vertx vertx;
    private AdminServer server;

    @BeforeEach
    void start() throws Exception {
        Counter.builder().name("requests_seen_total").help("Requests seen").register(registry).inc();
        Counter.builder().name("requests_rejected").help("Requests rejected, by " + AWKWARD).labelNames("reason", "peer")
                .register(registry).labelValues(AWKWARD, "").inc(2);
        Gauge.builder().name("connections_open").help("Connections open").labelNames("direction").register(registry)
                .labelValues("inbound").set(3);
        Histogram h = Histogram.builder().name("handshake_duration_seconds").help("TLS handshakes").classicOnly()
                .classicUpperBounds(0.01, 0.1, 1).labelNames("peer").register(registry);
        h.labelValues("spiffe://cluster.local/ns/default/sa/reviews").observe(0.05);
        h.labelValues(AWKWARD).observe(2);
        Summary.builder().name("queue_wait_seconds").help("Waits").quantile(0.5, 0.01).quantile(0.99, 0.001)
                .register(registry).observe(0.2);
        Info.builder().name("build_info").help("Build").labelNames("version").register(registry).setLabelValues("1.0");
        StateSet.builder().name("feature_state").help("Features").states("on", "off").register(registry)
                .setTrue("on");
        registry.register(new StreamedFamilies());
        vertx = Vertx.vertx();
        server = AdminServer.builder(vertx).host("127.0.0.1").port(0).metrics(registry).build().start()
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void prometheusTextPassesPromtool() throws Exception {
        assumeTrue(ExpositionCheck.unavailableReason() == null, ExpositionCheck.unavailableReason());
        String text = scrape("text/plain; version=0.0.4");
        assertThat(text).contains("requests_rejected_total{", "handshake_duration_seconds_bucket{",
                "queue_wait_seconds{", "build_info{", "feature_state{", "streamed_events_total{",
                "streamed_latency_seconds_bucket{");
        assertThat(ExpositionCheck.problems(text, Set.of())).as(text).isEmpty();
    }

    @Test
    void openMetricsHasEachFamilyTogetherAndNoSeriesTwice() throws Exception {
        String text = scrape("application/openmetrics-text; version=1.0.0");
        assertThat(text).contains("streamed_events_total{").endsWith("# EOF\n");
        assertThat(ExpositionCheck.structureProblems(text)).as(text).isEmpty();
    }

    private String scrape(String accept) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                + "/metrics")).header("accept", accept).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return r.body();
    }

    /** A counter and a histogram written series by series ({@link FamilyScrape}), as telemetry's Istio families. */
    private static final class StreamedFamilies implements MultiCollector {

        @Override
        public MetricSnapshots collect() {
            return MetricSnapshots.of();
        }

        @Override
        public MetricSnapshots collect(Predicate<String> includedNames) {
            if (includedNames instanceof FamilyScrape scrape) {
                if (scrape.test("streamed_events")) {
                    scrape.stream(out -> {
                        out.counter("streamed_events", "Events, by " + AWKWARD);
                        for (String kind : List.of("", AWKWARD, "plain")) {
                            out.sample("streamed_events_total");
                            out.label("kind", kind);
                            out.value(7.0);
                        }
                    });
                }
                if (scrape.test("streamed_latency_seconds")) {
                    scrape.stream(out -> {
                        out.histogram("streamed_latency_seconds", "Latency");
                        for (String le : List.of("0.5", "+Inf")) {
                            out.sample("streamed_latency_seconds_bucket");
                            out.labelFormatted("le", le);
                            out.value(1L);
                        }
                        out.sample("streamed_latency_seconds_count");
                        out.value(1L);
                        out.sample("streamed_latency_seconds_sum");
                        out.value(0.25);
                    });
                }
            }
            return MetricSnapshots.of();
        }

        @Override
        public List<String> getPrometheusNames() {
            return List.of("streamed_events", "streamed_latency_seconds");
        }
    }
}
