package io.jmesh.ztunnel.trust;

import io.jmesh.core.tls.Certificates;
import io.jmesh.ztunnel.tunnel.Http2Setup;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.netty.channel.Channel;
import java.security.cert.X509Certificate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts and logs HBONE connections closed because a new trust bundle no longer trusts their peer: its CRL lists
 * the peer's certificate ({@code reason="revoked"}), or the root the peer's chain ends at was retired
 * ({@code reason="root_retired"}); {@code ztunnel_revoked_connections_closed_total{direction,reason}}, one log line
 * with serial and identity.
 *
 * <p>Also Istio's {@code istio_crl_policy_rejections_total{reporter}}: every connection the CRL ends, refused at its
 * handshake or closed live ({@code reporter} {@code source} for outbound, where the server's chain is checked,
 * {@code destination} for inbound). Istio's companion {@code istio_crl_untracked_connections_total} counts
 * connections whose chain it could not parse and so cannot re-check; here every accepted connection keeps its
 * verified chain, so there is nothing to count and the series is not exported.
 */
public final class RevokedConnections {

    private static final Logger log = LoggerFactory.getLogger(RevokedConnections.class);

    public static final String REVOKED = "revoked";
    public static final String ROOT_RETIRED = "root_retired";

    private final Counter closed;
    private final Counter crlRejections;

    public RevokedConnections(PrometheusRegistry metrics) {
        closed = Counter.builder().name("ztunnel_revoked_connections_closed_total")
                .help("live HBONE connections closed because the peer's certificate was revoked, by direction")
                .labelNames("direction", "reason").register(metrics);
        crlRejections = Counter.builder().name("istio_crl_policy_rejections_total")
                .help("connections refused at the handshake or closed because the CRL lists a certificate of the "
                        + "peer's chain, by reporter").labelNames("reporter").register(metrics);
        for (String d : new String[] {"inbound", "outbound"}) {
            closed.labelValues(d, REVOKED);
            closed.labelValues(d, ROOT_RETIRED);
            crlRejections.labelValues(reporter(d));
        }
    }

    /** A handshake refused because the CRL lists a certificate of the peer's chain ({@code direction} as below). */
    public void rejectedAtHandshake(String direction) {
        crlRejections.labelValues(reporter(direction)).inc();
    }

    /** Istio's reporter for a direction: outbound checks the destination's chain as its source, inbound the reverse. */
    private static String reporter(String direction) {
        return "outbound".equals(direction) ? "source" : "destination";
    }

    /**
     * Closes {@code connection} (call on its event loop) whose peer is no longer trusted for {@code reason}
     * ({@link #REVOKED}: {@code cert} is the revoked certificate; {@link #ROOT_RETIRED}: {@code cert} is the peer's
     * leaf); {@code direction} inbound or outbound.
     */
    public void close(String direction, String reason, Channel connection, X509Certificate cert, long bundleVersion) {
        closed.labelValues(direction, reason).inc();
        if (REVOKED.equals(reason)) {
            crlRejections.labelValues(reporter(direction)).inc();
        }
        log.atWarn().addKeyValue("direction", direction).addKeyValue("reason", reason)
                .addKeyValue("serial", Certificates.serialHex(cert))
                .addKeyValue("identity", String.join(",", Certificates.uriSans(cert)))
                .addKeyValue("peer", String.valueOf(connection.remoteAddress()))
                .addKeyValue("bundleVersion", bundleVersion)
                .log(REVOKED.equals(reason) ? "closing hbone connection: peer certificate revoked"
                        : "closing hbone connection: the peer's root is no longer trusted");
        // GOAWAY, then close at once: a graceful close would wait for the open streams
        Http2Setup.drop(connection, REVOKED.equals(reason) ? "peer certificate revoked"
                : "the peer's root is no longer trusted");
    }

    public double closed(String direction, String reason) {
        return closed.labelValues(direction, reason).get();
    }
}
