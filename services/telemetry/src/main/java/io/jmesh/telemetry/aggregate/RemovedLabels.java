package io.jmesh.telemetry.aggregate;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Istio labels left out of the served series ({@code metrics.removeLabels}), as Istio's Telemetry API removes a
 * tag from a metric ({@code operation: REMOVE}): events that differed only in them are counted in one series.
 *
 * <p>The label stays in a series key, holding {@link #VALUE}, so that keys keep their one layout (the checkpoint,
 * the service graph's positions) and the aggregate merges such series by plain key equality. The exposition and the
 * OTLP export leave out any label holding {@link #VALUE} ({@link #isRemoved}). Removing a label from counted series
 * merges them in the aggregate, so it never makes a counter go down: a merged series only grows, and expires as one.
 */
public final class RemovedLabels {

    /**
     * What a removed label holds in a series key. No event carries it (Kubernetes names, SPIFFE ids and response
     * flags have no NUL, and the decoder refuses a NUL in any value that becomes a label), and a label that holds it
     * is never served.
     */
    public static final String VALUE = "\u0000";

    public static final RemovedLabels NONE = new RemovedLabels(List.of());

    /** Istio's labels that cannot be removed (why: {@link #of}). */
    private static final List<String> KEPT = List.of("reporter");

    /** Per position of {@link IstioLabels#REQUEST} (whose first positions are {@link IstioLabels#TCP}'s). */
    private final boolean[] removed = new boolean[IstioLabels.REQUEST.size()];
    private final List<String> names;

    private RemovedLabels(List<String> names) {
        this.names = List.copyOf(names);
        for (String n : names) {
            removed[IstioLabels.REQUEST.indexOf(n)] = true;
        }
    }

    /**
     * The labels named, refused with a message naming the first bad one: a name that is not one of Istio's traffic
     * labels, or {@code reporter}.
     *
     * @throws IllegalArgumentException naming the label and what was expected
     */
    public static RemovedLabels of(Collection<String> names) {
        if (names == null || names.isEmpty()) {
            return NONE;
        }
        for (String n : names) {
            if ("reporter".equals(n)) {
                throw new IllegalArgumentException("metrics.removeLabels: 'reporter' cannot be removed (ztunnels report "
                        + "a connection as source and as destination, waypoints a request as well: without it the "
                        + "reports of one connection would add up in one series)");
            }
            if (MeshTotals.PARTITION_LABEL.equals(n)) {
                throw new IllegalArgumentException("metrics.removeLabels: 'partition' cannot be removed (a series is "
                        + "served per partition so that it only grows: summed over partitions, it would go back "
                        + "whenever one moves to another replica or expires)");
            }
            if (!IstioLabels.REQUEST.contains(n)) {
                List<String> removable = new ArrayList<>(IstioLabels.REQUEST);
                removable.removeAll(KEPT);
                throw new IllegalArgumentException("metrics.removeLabels: '" + n + "' is not a label of the istio_tcp_* "
                        + "and istio_request* metrics (expected some of: " + String.join(", ", removable) + ")");
            }
        }
        return new RemovedLabels(List.copyOf(new java.util.LinkedHashSet<>(names)));
    }

    public boolean isEmpty() {
        return names.isEmpty();
    }

    /** The labels removed, as configured (duplicates dropped). */
    public List<String> names() {
        return names;
    }

    /** Whether a series' label value says it is left out of the exposition. */
    public static boolean isRemoved(String value) {
        return VALUE.equals(value);
    }

    /** {@code key} with the removed labels' values replaced by {@link #VALUE}; {@code key} itself when none is. */
    SeriesKey apply(SeriesKey key) {
        if (names.isEmpty()) {
            return key;
        }
        String[] v = null;
        for (int i = 0; i < key.size(); i++) {
            if (removed[i] && !VALUE.equals(key.value(i))) {
                if (v == null) {
                    v = key.values();
                }
                v[i] = VALUE;
            }
        }
        return v == null ? key : new SeriesKey(v);
    }

    /**
     * A key read from a checkpoint, made to fit the labels removed now: those removed now hold {@link #VALUE}, and
     * one that was removed when the checkpoint was written but is not now holds {@code unknown} (its values are gone;
     * Istio renders a missing value so). Series that become equal are merged by the caller.
     */
    SeriesKey restored(SeriesKey key) {
        SeriesKey k = apply(key);
        String[] v = null;
        for (int i = 0; i < k.size(); i++) {
            if (!removed[i] && VALUE.equals(k.value(i))) {
                if (v == null) {
                    v = k.values();
                }
                v[i] = IstioLabels.UNKNOWN;
            }
        }
        return v == null ? k : new SeriesKey(v);
    }

    @Override
    public String toString() {
        return names.toString();
    }
}
