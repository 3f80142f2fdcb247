package io.jmesh.ztunnel.trust;

import io.jmesh.core.tls.Certificates;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import java.security.cert.X509Certificate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts and logs HBONE connections closed because a new CRL lists their peer's certificate
 * ({@code ztunnel_revoked_connections_closed_total{direction}}, one log line with serial and identity).
 */
public final class RevokedConnections {

    private static final Logger log = LoggerFactory.getLogger(RevokedConnections.class);

    private final Counter closed;

    public RevokedConnections(PrometheusRegistry metrics) {
        closed = Counter.builder().name("ztunnel_revoked_connections_closed_total")
                .help("live HBONE connections closed because the peer's certificate was revoked, by direction")
                .labelNames("direction").register(metrics);
        closed.labelValues("inbound");
        closed.labelValues("outbound");
    }

    /** Closes {@code connection} (call on its event loop), whose peer chain contains {@code revoked}; {@code direction} inbound or outbound. */
    public void close(String direction, Channel connection, X509Certificate revoked, long bundleVersion) {
        closed.labelValues(direction).inc();
        log.atWarn().addKeyValue("direction", direction).addKeyValue("serial", Certificates.serialHex(revoked))
                .addKeyValue("identity", String.join(",", Certificates.uriSans(revoked)))
                .addKeyValue("peer", String.valueOf(connection.remoteAddress()))
                .addKeyValue("bundleVersion", bundleVersion)
                .log("closing hbone connection: peer certificate revoked");
        // Http2ConnectionHandler.close() waits for open streams (30 s by default): GOAWAY, then close at once
        Http2ConnectionHandler h2 = connection.pipeline().get(Http2ConnectionHandler.class);
        if (h2 != null) {
            h2.gracefulShutdownTimeoutMillis(0);
        }
        connection.close();
    }

    public double closed(String direction) {
        return closed.labelValues(direction).get();
    }
}
