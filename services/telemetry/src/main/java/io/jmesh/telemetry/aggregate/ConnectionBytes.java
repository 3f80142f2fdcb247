package io.jmesh.telemetry.aggregate;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;

/**
 * The bytes one connection event adds to the byte counters. ztunnel reports an open connection's bytes as they
 * flow (PROGRESS, each carrying the bytes since the previous one) and its totals at the close (CLOSED, with the
 * part of them its PROGRESS events carried, {@code reported_bytes_*}): a PROGRESS adds its bytes, a CLOSED the
 * rest. Each byte is counted once, whatever order the events are counted in; a CLOSED from a writer that sends
 * no PROGRESS has nothing reported and adds its totals. The decoder refuses a CLOSED reporting more than its total.
 */
public final class ConnectionBytes {

    private ConnectionBytes() {}

    /** What {@code e} adds to {@code istio_tcp_sent_bytes_total} (destination to source). */
    public static long sent(ConnectionEvent e) {
        return switch (e.getKind()) {
            case PROGRESS -> e.getBytesSent();
            case CLOSED -> e.getBytesSent() - e.getReportedBytesSent();
            default -> 0;
        };
    }

    /** What {@code e} adds to {@code istio_tcp_received_bytes_total} (source to destination). */
    public static long received(ConnectionEvent e) {
        return switch (e.getKind()) {
            case PROGRESS -> e.getBytesReceived();
            case CLOSED -> e.getBytesReceived() - e.getReportedBytesReceived();
            default -> 0;
        };
    }
}
