package io.jmesh.telemetry.aggregate;

/**
 * Histogram bucket bounds. Istio's {@code istio_request_duration_milliseconds}, {@code istio_request_bytes} and
 * {@code istio_response_bytes} all use Envoy's default bounds; the last bucket (+Inf) is implicit.
 */
public final class Buckets {

    /** Envoy's default histogram bounds, as Istio exposes them. */
    private static final double[] ISTIO = {0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
            60000, 300000, 600000, 1800000, 3600000};

    private Buckets() {}

    /** The upper bounds without +Inf (a copy). */
    public static double[] bounds() {
        return ISTIO.clone();
    }

    /** Number of buckets including +Inf. */
    public static int count() {
        return ISTIO.length + 1;
    }

    /** The index of the bucket {@code value} falls in (its upper bound is the first one >= value). */
    public static int index(double value) {
        int lo = 0;
        int hi = ISTIO.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (ISTIO[mid] < value) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
