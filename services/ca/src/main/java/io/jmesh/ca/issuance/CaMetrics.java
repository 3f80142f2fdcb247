package io.jmesh.ca.issuance;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Instant;
import java.util.function.Supplier;

/**
 * The CA's metrics, registered once in the service's own registry:
 * <ul>
 *   <li>{@code ca_certificates_issued_total{trust_domain}}</li>
 *   <li>{@code ca_certificates_refused_total{reason}} (reasons: {@link RefusalReason#label()})</li>
 *   <li>{@code ca_signing_duration_seconds}: from a request's arrival to its answer, issued requests only</li>
 *   <li>{@code ca_signing_pending}: requests queued for or running on a signing thread</li>
 *   <li>{@code ca_root_expiry_seconds}: seconds until the root the CA signs under expires (negative once it
 *       has); {@code ca_signing_cert_expiry_seconds} the same for the signing certificate</li>
 * </ul>
 */
public final class CaMetrics {

    private final Counter issued;
    private final Counter refused;
    private final Histogram signingDuration;

    public CaMetrics(PrometheusRegistry registry, Clock clock, Supplier<Instant> rootNotAfter,
            Supplier<Instant> signingNotAfter, java.util.function.IntSupplier pendingSignatures) {
        GaugeWithCallback.builder().name("ca_signing_pending")
                .help("Certificate requests queued for or running on a signing thread")
                .callback(cb -> cb.call(pendingSignatures.getAsInt())).register(registry);
        issued = Counter.builder().name("ca_certificates_issued_total")
                .help("Workload certificates issued").labelNames("trust_domain").register(registry);
        refused = Counter.builder().name("ca_certificates_refused_total")
                .help("Certificate requests refused, by reason").labelNames("reason").register(registry);
        signingDuration = Histogram.builder().name("ca_signing_duration_seconds")
                .help("Time from a certificate request's arrival to its signed answer (queueing included)")
                .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
                .register(registry);
        GaugeWithCallback.builder().name("ca_root_expiry_seconds")
                .help("Seconds until the root of the signing chain expires")
                .callback(cb -> cb.call(seconds(clock, rootNotAfter.get()))).register(registry);
        GaugeWithCallback.builder().name("ca_signing_cert_expiry_seconds")
                .help("Seconds until the CA certificate that signs workload certificates expires")
                .callback(cb -> cb.call(seconds(clock, signingNotAfter.get()))).register(registry);
        for (RefusalReason r : RefusalReason.values()) {
            refused.labelValues(r.label());
        }
    }

    private static double seconds(Clock clock, Instant until) {
        return until == null ? Double.NaN : (until.toEpochMilli() - clock.millis()) / 1000.0;
    }

    public void issued(String trustDomain, long nanos) {
        issued.labelValues(trustDomain).inc();
        signingDuration.observe(nanos / 1e9);
    }

    public void refused(RefusalReason reason) {
        refused.labelValues(reason.label()).inc();
    }
}
