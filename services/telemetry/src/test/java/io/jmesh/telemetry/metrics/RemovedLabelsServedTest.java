package io.jmesh.telemetry.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.telemetry.TelemetryConfig;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryConfig.MetricsConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.snapshots.DataPointSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code metrics.removeLabels} on a running telemetry service fed through a real broker: {@code /metrics} serves the
 * Istio families without the removed labels, events that differed only in them add up in one series, the service
 * graph still sees every workload, and a restart without the setting resumes from the checkpoint, nothing lost.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RemovedLabelsServedTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final String KEY = "Kubernetes//Pod/default/productpage-v1-abc12";

    private static UnaryOperator<TelemetryConfig> removing(String... labels) {
        return c -> new TelemetryConfig(c.logLevel(), c.drainDeadline(), c.admin(), c.kafka(), c.seriesTtl(),
                c.openSeriesTtl(), c.graph(), c.otlp(), new MetricsConfig(List.of(labels)));
    }

    @Test
    void removedLabelsAreLeftOutOfMetricsAndTheirSeriesAddUpAcrossARestart() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("removed"),
                "a");
        try (TelemetryInstance t = TelemetryInstance.start(cfg, removing("source_principal", "response_code"),
                Clock.systemUTC()); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews"));
            p.send(cfg.connectionTopic(), KEY, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS,
                    "reviews"));
            p.send(cfg.connectionTopic(), KEY, Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS,
                    "reviews", 1500, 300));
            p.send(cfg.requestTopic(), KEY, Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 200, 7));
            p.send(cfg.requestTopic(), KEY, Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE_B, Events.REVIEWS,
                    "reviews", 503, 70));
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 5);
            await().atMost(Duration.ofSeconds(30)).until(() -> t.scrape().contains("istio_requests_total{"));

            String m = t.scrape();
            List<String> istio = istioSamples(m);
            assertThat(istio).isNotEmpty().noneMatch(l -> l.contains("source_principal=")
                    || l.contains("response_code="));
            assertThat(m).containsPattern("istio_tcp_connections_opened_total\\{[^}]*reporter=\"source\""
                    + "[^}]*source_workload=\"productpage-v1\"[^}]*\\} 2.0");
            assertThat(m).containsPattern("istio_tcp_connections_closed_total\\{[^}]*source_workload=\"productpage-v1\""
                    + "[^}]*\\} 1.0");
            assertThat(m).containsPattern("istio_tcp_sent_bytes_total\\{[^}]*\\} 1500.0");
            assertThat(m).containsPattern("istio_requests_total\\{[^}]*reporter=\"waypoint\"[^}]*\\} 2.0");
            assertThat(m).containsPattern("istio_request_duration_milliseconds_count\\{[^}]*\\} 2");
            assertThat(m).containsPattern("istio_request_duration_milliseconds_sum\\{[^}]*\\} 77.0");
            // the other labels are all there, destination_principal included
            assertThat(m).containsPattern("istio_tcp_connections_opened_total\\{[^}]*destination_principal="
                    + "\"spiffe://cluster.local/ns/default/sa/bookinfo-reviews\"");

            // the graph is built from every label: its request edge still tells the 503 from the 200
            io.vertx.core.json.JsonObject graph = new io.vertx.core.json.JsonObject(t.get("/graph?window=10m").body());
            assertThat(graph.encode()).contains("productpage-v1").contains("reviews");
            assertThat(graph.getJsonArray("edges").stream().map(io.vertx.core.json.JsonObject.class::cast)
                    .filter(e -> e.getDouble("requestsPerSecond") > 0).map(e -> e.getDouble("errorRate")))
                    .isNotEmpty().allMatch(rate -> rate == 0.5);
        }

        // a restart without the setting: the checkpoint's merged series read "unknown" where the label was left out
        try (TelemetryInstance again = TelemetryInstance.start(cfg, c -> c, Clock.systemUTC());
                EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews"));
            await().atMost(Duration.ofSeconds(60)).until(() -> again.counted() >= 1);
            await().atMost(Duration.ofSeconds(30)).until(() -> again.scrape().contains(
                    "source_principal=\"spiffe://cluster.local/ns/default/sa/bookinfo-productpage\""));
            String m = again.scrape();
            assertThat(m).containsPattern("istio_tcp_connections_opened_total\\{[^}]*source_principal=\"unknown\""
                    + "[^}]*\\} 2.0");
            assertThat(m).containsPattern("istio_tcp_connections_opened_total\\{[^}]*source_principal="
                    + "\"spiffe://cluster.local/ns/default/sa/bookinfo-productpage\"[^}]*\\} 1.0");
            assertThat(m).containsPattern("istio_requests_total\\{[^}]*response_code=\"unknown\"[^}]*\\} 2.0");
        }
    }

    @Test
    void theSnapshotPathLeavesThemOutToo() {
        PartitionAggregate a = new PartitionAggregate(0, RemovedLabels.of(List.of("source_principal")));
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE_B, Events.REVIEWS, "reviews"), 1000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 7), 1000);
        IstioMetrics metrics = new IstioMetrics(() -> MeshTotals.of(List.of(a)));
        int points = 0;
        for (MetricSnapshot s : metrics.collect()) {
            for (DataPointSnapshot d : s.getDataPoints()) {
                points++;
                assertThat(d.getLabels().get("source_principal")).as(s.getMetadata().getName()).isNull();
                assertThat(d.getLabels().get("source_workload")).isEqualTo("productpage-v1");
                assertThat(d.getLabels().get("partition")).isEqualTo("0");
            }
        }
        assertThat(points).isEqualTo(5 + 4); // one series in each TCP family, one in each request family
    }

    private static List<String> istioSamples(String exposition) {
        Matcher m = Pattern.compile("(?m)^istio_[a-z_]+\\{[^}]*\\} .*$").matcher(exposition);
        List<String> lines = new java.util.ArrayList<>();
        while (m.find()) {
            lines.add(m.group());
        }
        return lines;
    }
}
