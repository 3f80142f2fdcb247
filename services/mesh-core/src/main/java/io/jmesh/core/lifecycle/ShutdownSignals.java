package io.jmesh.core.lifecycle;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What a SIGTERM or SIGINT means, given the ones before it: the first starts the drain; a second a second or more
 * later ends the process at once (an operator's second Ctrl-C); one repeated within the second is the same request
 * delivered twice, to the process and to its group (as {@code timeout} and some supervisors do), and the drain goes
 * on. Thread-safe: the JVM runs each signal's handler on a thread of its own.
 */
final class ShutdownSignals {

    /** A second signal this soon after the first is the same request delivered twice, and does not end the drain. */
    static final Duration REPEAT_WINDOW = Duration.ofSeconds(1);

    enum Action { DRAIN, REPEATED, EXIT_NOW }

    /** The first signal's time, 0 until then (set with the decision, atomically). */
    private final AtomicLong firstAt = new AtomicLong();

    /** The action for a signal received at {@code nanoTime} ({@link System#nanoTime()}). */
    Action received(long nanoTime) {
        long now = nanoTime | 1; // never 0, which means "none yet"
        if (firstAt.compareAndSet(0, now)) {
            return Action.DRAIN;
        }
        return now - firstAt.get() < REPEAT_WINDOW.toNanos() ? Action.REPEATED : Action.EXIT_NOW;
    }
}
