package io.jmesh.telemetry.ingest;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.telemetry.aggregate.SeriesKey;

/**
 * Sees every counted event, on the ingest thread, and whether the transaction that counted it committed. A
 * listener keeps what it saw since the last commit aside and applies it on {@link #committed}, discarding it on
 * {@link #aborted} (the records will be delivered again), so that it too counts each event once.
 */
public interface IngestListener {

    /**
     * A counted connection event and its Istio labels ({@code IstioLabels.TCP}): those of the series it was counted
     * in, with the values of any label {@code metrics.removeLabels} leaves out of that series.
     */
    void onConnection(ConnectionEvent event, SeriesKey series, long nowMillis);

    /** A counted request event and its Istio labels ({@code IstioLabels.REQUEST}), as {@link #onConnection}. */
    void onRequest(RequestEvent event, SeriesKey series, long nowMillis);

    /** The events seen since the previous call are committed. */
    void committed(long nowMillis);

    /** The events seen since the last commit will be redelivered: forget them. */
    void aborted();
}
