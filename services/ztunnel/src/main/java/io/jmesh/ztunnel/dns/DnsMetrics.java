package io.jmesh.ztunnel.dns;

import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.telemetry.RefusalLogLimit;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * Istio's DNS proxy metrics, registered once per process and shared by every DNS proxy: the node's, and in in-pod
 * mode one per pod.
 */
public final class DnsMetrics {

    static final String[] LABELS = {"request_query_type", "request_protocol", "source_canonical_service",
        "source_canonical_revision"};

    final Counter requests;
    final Counter forwarded;
    final Counter forwardFailures;
    final Histogram forwardSeconds;
    final Counter rejections;
    /** Forwarded queries sent on to another try, by protocol and reason ({@link Upstream#RETRY_REASONS}). */
    final Counter upstreamRetries;
    /** How many "dns query refused" lines are logged per protocol and reason; {@link #rejections} counts all. */
    final RefusalLogLimit rejectionLog;

    public DnsMetrics(PrometheusRegistry metrics) {
        this(metrics, new RefusalLogLimit(ConnectionTelemetry.REJECTION_LINES,
                ConnectionTelemetry.REJECTION_LOG_INTERVAL, System::nanoTime));
    }

    /** @param rejectionLog the limit of refusal lines, shared by every DNS proxy of the process */
    public DnsMetrics(PrometheusRegistry metrics, RefusalLogLimit rejectionLog) {
        this.rejectionLog = rejectionLog;
        requests = Counter.builder().name("istio_dns_requests_total").help("DNS requests received")
                .labelNames(LABELS).register(metrics);
        forwarded = Counter.builder().name("istio_dns_upstream_requests_total")
                .help("DNS requests forwarded to the upstream resolvers").labelNames(LABELS).register(metrics);
        forwardFailures = Counter.builder().name("istio_dns_upstream_failures_total")
                .help("forwarded DNS requests not answered with records (NXDOMAIN, NODATA, an error RCODE, or no "
                        + "upstream answer at all), as Istio counts them").labelNames(LABELS).register(metrics);
        forwardSeconds = Histogram.builder().name("istio_dns_upstream_request_duration_seconds")
                .help("time to an upstream DNS answer").labelNames(LABELS)
                .classicUpperBounds(0.0005, 0.001, 0.005, 0.01, 0.1, 1, 5).register(metrics);
        rejections = Counter.builder().name("ztunnel_dns_rejections_total")
                .help("DNS messages refused or dropped, by protocol and reason").labelNames("protocol", "reason")
                .register(metrics);
        for (String protocol : new String[] {"udp", "tcp"}) {
            for (String reason : new String[] {"too_short", "not_a_query", "question_count", "bad_question",
                "unknown_source", "opcode", "edns_version"}) {
                rejections.labelValues(protocol, reason); // zero series: dashboards and alerts see 0, not nothing
            }
        }
        rejections.labelValues("tcp", "connection_limit");
        rejections.labelValues("tcp", "client_connection_limit");
        upstreamRetries = Counter.builder().name("ztunnel_dns_upstream_retries_total")
                .help("forwarded DNS queries sent on to the next try, by protocol and why: no answer in time, or an "
                        + "upstream answer that Istio's forwarder does not take as final")
                .labelNames("protocol", "reason").register(metrics);
        for (String protocol : new String[] {"udp", "tcp"}) {
            for (String reason : Upstream.RETRY_REASONS) {
                upstreamRetries.labelValues(protocol, reason);
            }
        }
    }
}
