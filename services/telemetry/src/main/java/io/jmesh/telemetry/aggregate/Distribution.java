package io.jmesh.telemetry.aggregate;

import java.util.Arrays;

/**
 * Per-bucket (not cumulative) counts and the sum of one histogram series, over {@link Buckets}. Mutable, owned by
 * one thread; {@link #copy()} for publication.
 */
public final class Distribution {

    final long[] counts;
    double sum;

    Distribution() {
        this(new long[Buckets.count()], 0);
    }

    Distribution(long[] counts, double sum) {
        if (counts.length != Buckets.count()) {
            throw new IllegalArgumentException("buckets: " + counts.length + " (expected: " + Buckets.count() + ")");
        }
        this.counts = counts;
        this.sum = sum;
    }

    void observe(double value) {
        counts[Buckets.index(value)]++;
        sum += value;
    }

    void add(Distribution other) {
        for (int i = 0; i < counts.length; i++) {
            counts[i] = TcpTotals.saturated(counts[i], other.counts[i]);
        }
        sum = Math.min(sum + other.sum, Double.MAX_VALUE); // finite, as the counts stop at Long.MAX_VALUE
    }

    public long count() {
        long n = 0;
        for (long c : counts) {
            n += c;
        }
        return n;
    }

    public double sum() {
        return sum;
    }

    /** Per-bucket counts (a copy), the last one being +Inf. */
    public long[] bucketCounts() {
        return counts.clone();
    }

    /** The count of bucket {@code i} alone (not cumulative), the last one being +Inf; nothing copied. */
    public long bucketCount(int i) {
        return counts[i];
    }

    public Distribution copy() {
        return new Distribution(counts.clone(), sum);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Distribution d && Arrays.equals(d.counts, counts) && Double.compare(d.sum, sum) == 0;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(counts) * 31 + Double.hashCode(sum);
    }
}
