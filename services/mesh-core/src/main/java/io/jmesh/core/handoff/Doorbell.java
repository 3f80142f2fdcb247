package io.jmesh.core.handoff;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * How one consumer thread that drains a lock-free queue sleeps, and how producers (event loops) wake it, at the
 * least cost to the producers: they ring only while it sleeps idle, one futex call then; after a round that found
 * work it naps unannounced, so under load no producer wakes it and its next round takes everything that gathered
 * (one wake-up, one write or send, for many items).
 *
 * <p>The consumer announces its idle sleep and then looks at the queue again, and a producer enqueues and then
 * reads the announcement (both volatile), so an item is either seen by that look or rings the bell.
 */
public final class Doorbell {

    private final long napNanos;
    private final long idleNanos;
    private volatile Thread consumer;
    private volatile boolean idle;
    private final AtomicLong rings = new AtomicLong();
    private final AtomicLong idleWakeups = new AtomicLong();

    /**
     * @param nap the unannounced sleep after a round that found work: items wait at most this long
     * @param idleSleep the longest idle sleep (only bounds a wake-up lost to a race; a ring ends it at once)
     */
    public Doorbell(Duration nap, Duration idleSleep) {
        this.napNanos = nap.toNanos();
        this.idleNanos = idleSleep.toNanos();
    }

    /** Names the consumer thread; call before it first rests. */
    public void consumer(Thread t) {
        this.consumer = t;
    }

    /** Producer side, after enqueueing: wakes the consumer if it sleeps idle. */
    public void ring() {
        if (idle) {
            rings.incrementAndGet();
            LockSupport.unpark(consumer);
        }
    }

    /** Wakes the consumer whatever it does (stopping). */
    public void wakeNow() {
        Thread t = consumer;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    /**
     * Consumer side, between rounds: naps if the last round {@code worked}, else sleeps idle until rung, unless
     * {@code empty} says work arrived meanwhile or {@code running} says stop.
     */
    public void rest(boolean worked, BooleanSupplier empty, BooleanSupplier running) {
        rest(worked, idleNanos, empty, running);
    }

    /**
     * {@link #rest(boolean, BooleanSupplier, BooleanSupplier)} with an idle sleep of at most {@code idleMaxNanos}
     * (a consumer that holds work due by then).
     */
    public void rest(boolean worked, long idleMaxNanos, BooleanSupplier empty, BooleanSupplier running) {
        if (worked) {
            LockSupport.parkNanos(this, napNanos);
            return;
        }
        idle = true;
        if (empty.getAsBoolean() && running.getAsBoolean()) {
            LockSupport.parkNanos(this, Math.min(idleNanos, idleMaxNanos));
            idleWakeups.incrementAndGet();
        }
        idle = false;
    }

    /** How often a producer woke the consumer. */
    public long rings() {
        return rings.get();
    }

    /** How often the consumer came back from an idle sleep. */
    public long idleWakeups() {
        return idleWakeups.get();
    }
}
