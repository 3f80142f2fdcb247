package io.jmesh.telemetry.aggregate;

/**
 * {@code istio_requests_total} and the three request histograms of one series. Mutable, owned by the ingest
 * thread.
 */
public final class RequestTotals {

    long requests;
    final Distribution durationMillis;
    final Distribution requestBytes;
    final Distribution responseBytes;
    long lastSeenMillis;

    RequestTotals() {
        this(new Distribution(), new Distribution(), new Distribution());
    }

    RequestTotals(Distribution durationMillis, Distribution requestBytes, Distribution responseBytes) {
        this.durationMillis = durationMillis;
        this.requestBytes = requestBytes;
        this.responseBytes = responseBytes;
    }

    public long requests() {
        return requests;
    }

    public Distribution durationMillis() {
        return durationMillis;
    }

    public Distribution requestBytes() {
        return requestBytes;
    }

    public Distribution responseBytes() {
        return responseBytes;
    }

    void add(RequestTotals o) {
        requests = TcpTotals.saturated(requests, o.requests);
        durationMillis.add(o.durationMillis);
        requestBytes.add(o.requestBytes);
        responseBytes.add(o.responseBytes);
        lastSeenMillis = Math.max(lastSeenMillis, o.lastSeenMillis);
    }

    RequestTotals copy() {
        RequestTotals t = new RequestTotals();
        t.add(this);
        return t;
    }
}
