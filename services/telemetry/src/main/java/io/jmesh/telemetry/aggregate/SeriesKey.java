package io.jmesh.telemetry.aggregate;

import java.util.Arrays;

/** The label values of one metric series (names are fixed by {@link IstioLabels}). Immutable. */
public final class SeriesKey {

    private final String[] values;
    private final int hash;

    SeriesKey(String[] values) {
        this.values = values;
        this.hash = Arrays.hashCode(values);
    }

    /** A copy of the values, in the order of the metric's label names. */
    public String[] values() {
        return values.clone();
    }

    public String value(int index) {
        return values[index];
    }

    public int size() {
        return values.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SeriesKey k && k.hash == hash && Arrays.equals(k.values, values);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return Arrays.toString(values);
    }
}
