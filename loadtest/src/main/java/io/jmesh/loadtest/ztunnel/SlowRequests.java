package io.jmesh.loadtest.ztunnel;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The requests of a fixed-rate load that took longer than {@link #THRESHOLD_MICROS}, with when they completed, so
 * a path's tail can be told apart: single slow requests, or bursts in which most connections were slow together
 * (something stalled the whole process or machine, e.g. this VM's periodic memory scans). Bounded: after
 * {@link #CAPACITY} requests the rest are counted, not kept.
 */
final class SlowRequests {

    static final long THRESHOLD_MICROS = 1000;
    static final int CAPACITY = 100_000;
    /** Completions at most this far apart belong to one burst. */
    static final long BURST_GAP_NANOS = 3_000_000;
    /** A burst: at least this many slow requests, half the load's connections. */
    static final int BURST_SIZE = ZtunnelLatencyScenario.CONNECTIONS / 2;

    /** Completion times ({@link System#nanoTime()}) of the slow requests kept. */
    private final Queue<Long> kept = new ConcurrentLinkedQueue<>();
    private final AtomicInteger count = new AtomicInteger();

    /** Called by the load's threads for every request. */
    void record(long completedNanos, long micros) {
        if (micros > THRESHOLD_MICROS && count.getAndIncrement() < CAPACITY) {
            kept.add(completedNanos);
        }
    }

    /** What {@link #summary} reports. */
    record Bursts(int slow, int inBursts, int bursts, long medianSpacingMillis) {}

    Bursts bursts() {
        List<Long> sorted = new ArrayList<>(kept);
        sorted.sort(Long::compare);
        List<Long> starts = new ArrayList<>();
        int inBursts = 0;
        int i = 0;
        while (i < sorted.size()) {
            int j = i + 1;
            while (j < sorted.size() && sorted.get(j) - sorted.get(j - 1) <= BURST_GAP_NANOS) {
                j++;
            }
            if (j - i >= BURST_SIZE) {
                inBursts += j - i;
                starts.add(sorted.get(i));
            }
            i = j;
        }
        // spacing between bursts of the same segment (segments are seconds apart)
        List<Long> gaps = new ArrayList<>();
        for (int k = 1; k < starts.size(); k++) {
            long gap = starts.get(k) - starts.get(k - 1);
            if (gap < 2_000_000_000L) {
                gaps.add(gap / 1_000_000);
            }
        }
        gaps.sort(Long::compare);
        return new Bursts(count.get(), inBursts, starts.size(), gaps.isEmpty() ? -1 : gaps.get(gaps.size() / 2));
    }

    /** e.g. {@code 212 over 1 ms, 61% of them in 19 bursts (median 512 ms apart)}. */
    String summary() {
        Bursts b = bursts();
        if (b.slow() == 0) {
            return "none over 1 ms";
        }
        String s = b.slow() + " over 1 ms, " + Math.round(100.0 * b.inBursts() / b.slow()) + "% of them in "
                + b.bursts() + (b.bursts() == 1 ? " burst" : " bursts");
        return b.medianSpacingMillis() < 0 ? s : s + " (median " + b.medianSpacingMillis() + " ms apart)";
    }
}
