package io.jmesh.telemetry.aggregate;

/** The {@code istio_tcp_*} counters of one series. Mutable, owned by the ingest thread. */
public final class TcpTotals {

    long opened;
    long closed;
    long failed;
    long sentBytes;
    long receivedBytes;
    /**
     * Connections seen OPENED on this series and not CLOSED yet. Between the two ztunnel reports only bytes moved
     * (PROGRESS), so this is what says that a series of idle connections is still in use when it has not been
     * updated for a while.
     */
    long open;
    long lastSeenMillis;

    public long opened() {
        return opened;
    }

    public long closed() {
        return closed;
    }

    /** Closed connections that ended in an error ({@code istio_tcp_connections_failed_total}). */
    public long failed() {
        return failed;
    }

    public long sentBytes() {
        return sentBytes;
    }

    public long receivedBytes() {
        return receivedBytes;
    }

    /** Connections opened on this series whose close has not been seen yet. */
    public long open() {
        return open;
    }

    /**
     * Adds {@code o}'s counts (series merged when a checkpoint is read with a label removed since, and summed for
     * tests and logs). They stop at {@link Long#MAX_VALUE}: no event takes one series past it
     * ({@code PartitionAggregate.overflow}), but two series merged may hold more, and a stuck counter is better than
     * a negative one.
     */
    void add(TcpTotals o) {
        opened = saturated(opened, o.opened);
        closed = saturated(closed, o.closed);
        failed = saturated(failed, o.failed);
        sentBytes = saturated(sentBytes, o.sentBytes);
        receivedBytes = saturated(receivedBytes, o.receivedBytes);
        open = saturated(open, o.open);
        lastSeenMillis = Math.max(lastSeenMillis, o.lastSeenMillis);
    }

    /** {@code a + b} for two counts (never negative), {@link Long#MAX_VALUE} where it would overflow. */
    static long saturated(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }

    TcpTotals copy() {
        TcpTotals t = new TcpTotals();
        t.add(this);
        return t;
    }
}
