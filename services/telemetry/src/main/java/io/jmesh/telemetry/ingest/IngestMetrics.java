package io.jmesh.telemetry.ingest;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** The ingest pipeline's own metrics (the Istio series are exposed by {@code IstioMetrics}). */
final class IngestMetrics {

    final Counter records;
    final Counter rejected;
    final Counter commits;
    final Counter expired;
    final Counter expiredOpen;
    final Gauge partitions;
    final Gauge held;
    final Counter unreadableCheckpoints;
    final Counter topicWarnings;

    IngestMetrics(PrometheusRegistry registry) {
        records = Counter.builder().name("telemetry_records_total")
                .help("Event records consumed, by topic and outcome (counted or dead_lettered)")
                .labelNames("topic", "outcome").register(registry);
        rejected = Counter.builder().name("telemetry_records_rejected_total")
                .help("Records sent to the dead-letter topic, by topic and reason")
                .labelNames("topic", "reason").register(registry);
        commits = Counter.builder().name("telemetry_commits_total")
                .help("Transactions of aggregates + offsets, by result (committed, aborted)")
                .labelNames("result").register(registry);
        expired = Counter.builder().name("telemetry_series_expired_total")
                .help("Metric series removed because they were not updated within seriesTtl (openSeriesTtl for a"
                        + " series with connections still open)").register(registry);
        expiredOpen = Counter.builder().name("telemetry_series_expired_open_total")
                .help("Series removed with connections still open: no close seen within openSeriesTtl (a lost"
                        + " CLOSED event)").register(registry);
        partitions = Gauge.builder().name("telemetry_partitions_owned")
                .help("Event topic partitions this replica currently aggregates").register(registry);
        held = Gauge.builder().name("telemetry_partitions_held")
                .help("Assigned partitions not counted because their checkpoint cannot be read").register(registry);
        unreadableCheckpoints = Counter.builder().name("telemetry_checkpoints_unreadable_total")
                .help("Checkpoints found corrupt or of an unknown version (each holds its partition)")
                .register(registry);
        topicWarnings = Counter.builder().name("telemetry_topic_config_warnings_total")
                .help("Settings of existing topics telemetry does not change itself, found at start (logged):"
                        + " replication_factor (fewer replicas than kafka.replicationFactor asks),"
                        + " min_insync_replicas (below 2 on 3 replicas or more)")
                .labelNames("reason").register(registry);
        topicWarnings.labelValues("replication_factor");
        topicWarnings.labelValues("min_insync_replicas");
    }
}
