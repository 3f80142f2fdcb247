package io.jmesh.ztunnel.telemetry;

import io.jmesh.core.config.Durations;
import io.jmesh.core.net.IpLiteral;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.Workloads;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * ztunnel's access log (logger {@code access}), in the fields and words of Istio's ztunnel: one "connection
 * complete" line per closed connection (INFO, ERROR when it failed), a "connection opened" line at DEBUG, and a
 * "connection failed" line for a connection refused before it was established (WARN). A line's fields are built
 * only when it is written.
 */
final class AccessLog {

    private static final Logger access = LoggerFactory.getLogger("access");

    private AccessLog() {}

    /** Whether the close line of a connection (failed when {@code error}) is written at the current level. */
    static boolean closeEnabled(boolean error) {
        return error ? access.isErrorEnabled() : access.isInfoEnabled();
    }

    static boolean openEnabled() {
        return access.isDebugEnabled();
    }

    /** Istio's DEBUG line when a connection opens: the close line's addresses, peers and direction. */
    static void opened(ConnectionInfo info) {
        peers(access.atDebug(), info).log("connection opened");
    }

    /**
     * The line of a closed connection.
     *
     * @param fromSource bytes the source sent towards the destination
     * @param toSource bytes the destination sent back
     * @param error null for a clean close
     */
    static void closed(ConnectionInfo info, long fromSource, long toSource, long millis, String flags, String error) {
        var line = peers(error == null ? access.atInfo() : access.atError(), info)
                // as Istio's ztunnel logs them: what the reporting side's workload sent and received (the client's
                // bytes are sent on the outbound line, the destination's on the inbound one), while the metrics keep
                // one direction for both reporters
                .addKeyValue("bytes_sent", info.outbound() ? fromSource : toSource)
                .addKeyValue("bytes_recv", info.outbound() ? toSource : fromSource)
                .addKeyValue("duration", millis + "ms")
                .addKeyValue("response_flags", flags);
        if (error != null) {
            line = line.addKeyValue("error", error);
        }
        line.log("connection complete");
    }

    /** The line of a connection refused before it was established. */
    static void refused(String direction, String reason, String detail, InetSocketAddress src, String dst) {
        access.atWarn().addKeyValue("src.addr", address(src)).addKeyValue("dst.addr", dst)
                .addKeyValue("direction", direction).addKeyValue("reason", reason)
                .addKeyValue("error", detail).log("connection failed");
    }

    /** The summary of the refusal lines of one direction and reason left out in an interval. */
    static void refusalsSuppressed(String direction, String reason, long lines, Duration interval) {
        access.atWarn().addKeyValue("direction", direction).addKeyValue("reason", reason)
                .addKeyValue("suppressed", lines)
                .log("connection failed: suppressed {} similar lines in an interval of {} (telemetry.rejectionLog); "
                        + "ztunnel_connection_rejections_total counts them all", lines, Durations.format(interval));
    }

    /** {@code line} with the fields of the open and the close line: addresses, peers, direction. */
    private static LoggingEventBuilder peers(LoggingEventBuilder line, ConnectionInfo info) {
        // as Istio's, a field it has no value for is left out (its DefaultedUnknown writes "unknown" in the metric
        // labels only), and a peer is named by its workload's name, else its canonical service
        line = line.addKeyValue("src.addr", address(info.sourceAddress()));
        line = known(line, "src.workload", name(info.source()));
        line = known(line, "src.namespace", info.source() == null ? "" : info.source().getNamespace());
        line = known(line, "src.identity", info.mtls() && info.sourcePrincipal() != null
                ? info.sourcePrincipal().uri() : "");
        line = line.addKeyValue("dst.addr", address(info.destinationAddress()));
        line = known(line, "dst.hbone_addr", info.hboneAddress());
        line = known(line, "dst.service", info.service() == null ? "" : info.service().getHostname());
        line = known(line, "dst.workload", name(info.destination()));
        line = known(line, "dst.namespace", info.destination() == null ? "" : info.destination().getNamespace());
        line = known(line, "dst.identity", info.mtls() && info.destinationPrincipal() != null
                ? info.destinationPrincipal().uri() : "");
        return line.addKeyValue("direction", info.outbound() ? "outbound" : "inbound");
    }

    /** {@code line} with {@code key}, unless {@code value} is null or empty (not known). */
    private static LoggingEventBuilder known(LoggingEventBuilder line, String key, String value) {
        return value == null || value.isEmpty() ? line : line.addKeyValue(key, value);
    }

    /**
     * How the access log names a peer, as Istio's: its workload's name, else (a source known only from its
     * baggage, which has none) its canonical service; empty when unknown.
     */
    private static String name(Workload w) {
        if (w == null) {
            return "";
        }
        return Workloads.isDerived(w) ? w.getCanonicalName() : w.getName();
    }

    private static String address(InetSocketAddress a) {
        return a == null ? "" : IpLiteral.hostPort(a.getAddress(), a.getPort());
    }
}
