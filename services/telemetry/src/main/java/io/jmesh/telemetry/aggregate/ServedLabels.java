package io.jmesh.telemetry.aggregate;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The labels of a served series, Istio's and {@link MeshTotals#PARTITION_LABEL}, in the order of their names: the
 * order Prometheus exposition writes them in, and sorts a family's series by (their values, in this order).
 */
public final class ServedLabels {

    public static final ServedLabels TCP = new ServedLabels(IstioLabels.TCP);
    public static final ServedLabels REQUEST = new ServedLabels(IstioLabels.REQUEST);

    private static final int PARTITION = -1;

    private final String[] names;
    /** Where each name's value is in a series key, or {@link #PARTITION}. */
    private final int[] positions;

    private ServedLabels(List<String> istio) {
        List<String> all = new ArrayList<>(istio);
        all.add(MeshTotals.PARTITION_LABEL);
        all.sort(Comparator.naturalOrder());
        names = all.toArray(String[]::new);
        positions = new int[names.length];
        for (int i = 0; i < names.length; i++) {
            positions[i] = names[i].equals(MeshTotals.PARTITION_LABEL) ? PARTITION : istio.indexOf(names[i]);
        }
    }

    public int size() {
        return names.length;
    }

    /** The {@code i}th name, in name order. */
    public String name(int i) {
        return names[i];
    }

    /** The series' value of the {@code i}th name. */
    public String value(int i, MeshTotals.Served<?> series) {
        int at = positions[i];
        return at == PARTITION ? series.partition() : series.key().value(at);
    }

    /** The exposition order of series: by their values, taken in name order. */
    <T> Comparator<MeshTotals.Served<T>> order() {
        return (a, b) -> {
            for (int i = 0; i < names.length; i++) {
                int c = value(i, a).compareTo(value(i, b));
                if (c != 0) {
                    return c;
                }
            }
            return 0;
        };
    }
}
