package io.jmesh.telemetry.ingest;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;

/**
 * Sees every counted event, on the ingest thread, and whether the transaction that counted it committed. A
 * listener keeps what it saw since the last commit aside and applies it on {@link #committed}, discarding it on
 * {@link #aborted} (the records will be delivered again), so that it too counts each event once.
 */
public interface IngestListener {

    void onConnection(ConnectionEvent event, long nowMillis);

    void onRequest(RequestEvent event, long nowMillis);

    /** The events seen since the previous call are committed. */
    void committed(long nowMillis);

    /** The events seen since the last commit will be redelivered: forget them. */
    void aborted();
}
