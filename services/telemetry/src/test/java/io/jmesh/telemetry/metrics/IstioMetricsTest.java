package io.jmesh.telemetry.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.EventProducer;
import io.jmesh.telemetry.Events;
import io.jmesh.testing.MutableClock;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.TelemetryInstance;
import io.jmesh.testing.KafkaExtension;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Events produced to Kafka come out of {@code /metrics} with Istio's names, labels and buckets, and expire. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IstioMetricsTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final String KEY = "Kubernetes//Pod/default/productpage-v1-abc12";

    @Test
    void eventsBecomeIstioSeriesAndSeriesOfRemovedWorkloadsExpire() throws Exception {
        IngestConfig cfg = TelemetryInstance.ingest(kafka.bootstrapServers(), KafkaExtension.uniqueTopic("metrics"), "a");
        MutableClock clock = new MutableClock(Instant.parse("2026-12-02T12:00:00Z"));
        try (TelemetryInstance t = TelemetryInstance.start(cfg, c -> c, clock); EventProducer p = new EventProducer(kafka)) {
            p.send(cfg.connectionTopic(), KEY, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"));
            p.send(cfg.connectionTopic(), KEY, Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews"));
            p.send(cfg.connectionTopic(), KEY,
                    Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 1500, 300));
            // a connection the destination's policy denied: closed, and failed
            p.send(cfg.connectionTopic(), KEY, Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 0, 0).toBuilder().setResponseFlags("DENY").setError("denied by default/deny-all").build());
            p.send(cfg.requestTopic(), KEY, Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 200, 7));
            p.send(cfg.requestTopic(), KEY, Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS,
                    "reviews", 503, 70));
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 6);

            String served = t.scrape();
            // every Istio series is served per partition of its topic (see MeshTotals); all of KEY's on one
            assertThat(served).containsPattern("istio_tcp_connections_opened_total\\{[^}]*partition=\"[0-3]\"");
            assertThat(served).containsPattern("istio_requests_total\\{[^}]*partition=\"[0-3]\"");
            String m = istio(served);
            String tcp = "connection_security_policy=\"mutual_tls\",destination_app=\"reviews\","
                    + "destination_canonical_revision=\"v2\",destination_canonical_service=\"reviews\","
                    + "destination_cluster=\"Kubernetes\","
                    + "destination_principal=\"spiffe://cluster.local/ns/default/sa/bookinfo-reviews\","
                    + "destination_service=\"reviews.default.svc.cluster.local\",destination_service_name=\"reviews\","
                    + "destination_service_namespace=\"default\",destination_version=\"v2\","
                    + "destination_workload=\"reviews-v2\",destination_workload_namespace=\"default\","
                    + "reporter=\"source\",request_protocol=\"tcp\",response_flags=\"-\",source_app=\"productpage\","
                    + "source_canonical_revision=\"v1\",source_canonical_service=\"productpage\","
                    + "source_cluster=\"Kubernetes\","
                    + "source_principal=\"spiffe://cluster.local/ns/default/sa/bookinfo-productpage\","
                    + "source_version=\"v1\",source_workload=\"productpage-v1\",source_workload_namespace=\"default\"";
            assertThat(m).contains("istio_tcp_connections_opened_total{" + tcp + "} 2.0");
            assertThat(m).contains("istio_tcp_connections_closed_total{" + tcp + "} 1.0");
            assertThat(m).contains("istio_tcp_sent_bytes_total{" + tcp + "} 1500.0");
            assertThat(m).contains("istio_tcp_received_bytes_total{" + tcp + "} 300.0");
            assertThat(m).contains("istio_tcp_connections_failed_total{" + tcp + "} 0.0"); // closed cleanly
            assertThat(m).containsPattern("istio_tcp_connections_failed_total\\{[^}]*reporter=\"destination\""
                    + "[^}]*response_flags=\"DENY\"[^}]*\\} 1.0");
            assertThat(m).containsPattern("istio_requests_total\\{[^}]*reporter=\"waypoint\"[^}]*response_code=\"200\"[^}]*\\} 1.0");
            assertThat(m).containsPattern("istio_requests_total\\{[^}]*response_code=\"503\"[^}]*\\} 1.0");
            // 7 ms falls in le=10, 70 ms in le=100; buckets are cumulative in the exposition
            assertThat(m).containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*response_code=\"200\"[^}]*le=\"5.0\"[^}]*\\} 0");
            assertThat(m).containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*response_code=\"200\"[^}]*le=\"10.0\"[^}]*\\} 1");
            assertThat(m).containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*response_code=\"503\"[^}]*le=\"100.0\"[^}]*\\} 1");
            assertThat(m).containsPattern("istio_request_duration_milliseconds_bucket\\{[^}]*le=\"3600000.0\"[^}]*\\} 1");
            assertThat(m).containsPattern("istio_request_duration_milliseconds_sum\\{[^}]*response_code=\"503\"[^}]*\\} 70.0");
            assertThat(m).containsPattern("istio_request_bytes_count\\{[^}]*response_code=\"200\"[^}]*\\} 1");
            assertThat(m).containsPattern("istio_response_bytes_sum\\{[^}]*response_code=\"200\"[^}]*\\} 2000.0");

            // reviews→ratings keeps reporting; productpage is removed and its series go after seriesTtl (1 h), but
            // the one with a connection still open (2 opened, 1 closed) stays until that connection closes
            clock.advance(Duration.ofMinutes(40));
            p.send(cfg.connectionTopic(), "Kubernetes//Pod/default/reviews-v2-abc12",
                    Events.opened(Reporter.SOURCE, Events.REVIEWS, Events.RATINGS, "ratings"));
            await().atMost(Duration.ofSeconds(60)).until(() -> t.counted() == 7);
            clock.advance(Duration.ofMinutes(30));
            // 1 tcp (denied) + 2 request series
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> t.scrape().contains("telemetry_series_expired_total 3.0"));
            // the expiry is counted at once, the series leave /metrics with the next commit's published totals
            await("the expired series gone from /metrics").atMost(Duration.ofSeconds(60))
                    .until(() -> !java.util.regex.Pattern.compile(
                            "istio_requests_total\\{[^}]*source_workload=\"productpage-v1\"").matcher(istio(t.scrape()))
                            .find());
            String after = istio(t.scrape());
            assertThat(after).contains("source_workload=\"reviews-v2\"");
            assertThat(after).contains("istio_tcp_connections_opened_total{" + tcp + "} 2.0");
            assertThat(after).doesNotContainPattern("istio_requests_total\\{[^}]*source_workload=\"productpage-v1\"");
            assertThat(after).doesNotContainPattern("reporter=\"destination\"[^}]*source_workload=\"productpage-v1\"");

            p.send(cfg.connectionTopic(), KEY,
                    Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0));
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> istio(t.scrape()).contains("istio_tcp_connections_closed_total{" + tcp + "} 2.0"));
            clock.advance(Duration.ofMinutes(61));
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> !t.scrape().contains("source_workload=\"productpage-v1\""));
            // + productpage's tcp series; reviews→ratings' stays: its connection is still open
            assertThat(t.scrape()).contains("telemetry_series_expired_total 4.0")
                    .contains("source_workload=\"reviews-v2\"").contains("telemetry_series_expired_open_total 0.0");
        }
    }

    /** The exposition with Istio's labels only: without the partition each series was counted on. */
    private static String istio(String exposition) {
        return exposition.replaceAll("partition=\"[0-9]+\",", "");
    }

    @Test
    void everyMetricItExportsCanBeSelectedByName() {
        io.jmesh.telemetry.aggregate.PartitionAggregate a = new io.jmesh.telemetry.aggregate.PartitionAggregate(-1);
        a.add(Events.closed(Reporter.DESTINATION, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 0, 0).toBuilder()
                .setResponseFlags("DENY").setError("denied").build(), 1000);
        a.add(Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 3), 1000);
        IstioMetrics m = new IstioMetrics(() -> io.jmesh.telemetry.aggregate.MeshTotals.of(java.util.List.of(a)));
        io.prometheus.metrics.model.registry.PrometheusRegistry r = new io.prometheus.metrics.model.registry.PrometheusRegistry();
        r.register(m);
        for (var snapshot : m.collect()) {
            String name = snapshot.getMetadata().getPrometheusName();
            assertThat(m.getPrometheusNames()).contains(name);
            assertThat(r.scrape(name::equals)).extracting(x -> x.getMetadata().getPrometheusName())
                    .containsExactly(name);
        }
    }
}
