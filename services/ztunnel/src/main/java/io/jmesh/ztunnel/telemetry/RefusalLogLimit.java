package io.jmesh.ztunnel.telemetry;

import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Bounds the log lines of refused input per reason: in each interval the first {@code linesPerInterval} events of a
 * reason are logged, the rest only counted, and one summary line reports how many were left out once the interval
 * is over ({@link #admit} at the reason's next event, or {@link #reportSuppressed} from a timer, whichever first).
 * A flood of bad input then costs a few lines a second instead of one per event; the metrics still count every
 * event, since only logging goes through here.
 *
 * <p>Lock-free, safe from any thread: one window per reason, rolled over by compare-and-set. Two threads racing
 * over a rollover may let a line or two more through in that interval, never an unbounded number.
 */
public final class RefusalLogLimit {

    /** Called with a reason and how many of its lines the interval just over left out; it logs the summary. */
    @FunctionalInterface
    public interface Summary {
        void suppressed(String reason, long lines, Duration interval);
    }

    private final int linesPerInterval;
    private final Duration interval;
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    /** One window per reason; reasons are the code's fixed names, so the map stays small. */
    private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();

    private static final class Window {
        final AtomicLong start;
        final AtomicInteger logged = new AtomicInteger();
        final AtomicLong suppressed = new AtomicLong();

        Window(long start) {
            this.start = new AtomicLong(start);
        }
    }

    /**
     * @param linesPerInterval lines logged per reason and interval, at least 1
     * @param interval the interval, above zero
     * @param nanoClock {@link System#nanoTime()}, or a test's clock
     */
    public RefusalLogLimit(int linesPerInterval, Duration interval, LongSupplier nanoClock) {
        if (linesPerInterval < 1) {
            throw new IllegalArgumentException("linesPerInterval: " + linesPerInterval + " (expected: >= 1)");
        }
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("interval: " + interval + " (expected: > 0)");
        }
        this.linesPerInterval = linesPerInterval;
        this.interval = interval;
        this.intervalNanos = interval.toNanos();
        this.nanoClock = nanoClock;
    }

    /**
     * Whether this event of {@code reason} is to be logged. If it is the first of a new interval and the previous
     * one left lines out, {@code summary} is told first, so the summary precedes the new interval's lines.
     */
    public boolean admit(String reason, Summary summary) {
        long now = nanoClock.getAsLong();
        Window w = windows.computeIfAbsent(reason, r -> new Window(now));
        roll(reason, w, now, summary);
        if (w.logged.incrementAndGet() <= linesPerInterval) {
            return true;
        }
        w.suppressed.incrementAndGet();
        return false;
    }

    /** Reports (and resets) the reasons whose interval is over with lines left out; for a periodic timer. */
    public void reportSuppressed(Summary summary) {
        long now = nanoClock.getAsLong();
        windows.forEach((reason, w) -> roll(reason, w, now, summary));
    }

    public Duration interval() {
        return interval;
    }

    /** Starts a new interval for {@code w} if its current one is over; the thread whose swap wins reports. */
    private void roll(String reason, Window w, long now, Summary summary) {
        long start = w.start.get();
        if (now - start >= intervalNanos && w.start.compareAndSet(start, now)) {
            w.logged.set(0);
            long left = w.suppressed.getAndSet(0);
            if (left > 0) {
                summary.suppressed(reason, left, interval);
            }
        }
    }
}
