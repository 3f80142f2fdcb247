package io.jmesh.ztunnel.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * A "random" generator for tests of weighted choices: every draw returns {@code value} (modulo the bound asked),
 * and the bounds asked are recorded, so a test can name the exact endpoint each draw selects and the span it was
 * drawn from. Not thread-safe.
 */
public final class FixedDraw implements RandomGenerator {

    private final long value;
    /** Bounds of {@link #nextLong(long)} calls, in order. */
    public final List<Long> bounds = new ArrayList<>();
    /** Bounds of {@link #nextInt(int)} calls, in order. */
    public final List<Integer> intBounds = new ArrayList<>();

    private FixedDraw(long value) {
        this.value = value;
    }

    public static FixedDraw of(long value) {
        return new FixedDraw(value);
    }

    /** The span the first draw covered (1 when nothing was drawn: a single candidate). */
    public long span() {
        return !bounds.isEmpty() ? bounds.get(0) : !intBounds.isEmpty() ? intBounds.get(0) : 1;
    }

    @Override
    public long nextLong() {
        return value;
    }

    @Override
    public long nextLong(long bound) {
        bounds.add(bound);
        return value % bound;
    }

    @Override
    public int nextInt(int bound) {
        intBounds.add(bound);
        return (int) (value % bound);
    }
}
