package io.jmesh.policy.xds;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Which new discovery streams start now, so that every ztunnel of a cluster reconnecting at once (a policy restart)
 * costs a bounded amount of work and heap. A reconnecting ztunnel's first request lists everything it holds (up to
 * {@link DeltaAdsServer#MAX_REQUEST_BYTES}), kept by its stream until its first full pass is through, and its token
 * is reviewed first.
 *
 * <ul>
 *   <li>At most {@code perSecond} streams start per second, one at a time (istiod's {@code RequestRateLimit}: a
 *       token bucket of burst 1). A stream waits up to {@code maxWait} for its turn (istiod: 1 s); one that would
 *       wait longer is refused at once, nothing reserved.</li>
 *   <li>At most {@code maxSyncing} streams are in their initial sync: from their token's review (a stream in its
 *       review holds no place: it is nobody yet) until their first full configuration is acknowledged
 *       ({@link AdsStream#onInitialSync}), or they end, or {@code maxInitialSync} passed. Whether a stream gets a
 *       place is decided after its review only, not as it arrives: when every place is taken, the node it turns out
 *       to be may hold one already (its stream that went half-open in its initial sync), which its reconnect takes
 *       over ({@link Place#handOver}). Streams arriving while every place is taken therefore take a turn and a
 *       review each before they are refused: the turns bound that work ({@code perSecond} reviews a second).</li>
 *   <li>One node holds at most {@code maxStreamsPerNode} streams, once its token is reviewed
 *       ({@link NodeStreams}).</li>
 * </ul>
 *
 * <p>Streams arrive on every event loop: the state is atomics, never a lock.
 */
public final class StreamAdmission {

    /** Longest a new stream waits for its turn before it is refused, as istiod's {@code WaitForRequestLimit}. */
    public static final Duration MAX_WAIT = Duration.ofSeconds(1);

    /** Longest a stream keeps its initial-sync place by default. */
    public static final Duration DEFAULT_MAX_INITIAL_SYNC = Duration.ofSeconds(60);

    /**
     * Streams one node holds at most by default: a ztunnel has one, two while it reconnects before its old one is
     * noticed gone; a little more for reconnects in a row over half-open connections.
     */
    public static final int DEFAULT_MAX_STREAMS_PER_NODE = 4;

    private final double perSecond;
    private final long intervalNanos;
    private final long maxWaitNanos;
    private final int maxSyncing;
    private final Duration maxInitialSync;
    private final int maxStreamsPerNode;
    private final LongSupplier clock;
    // when the next stream may start (clock nanos)
    private final AtomicLong nextTurn;
    private final AtomicInteger syncing = new AtomicInteger();
    // maxInitialSync in nanos, bounded so that a place's end never overflows the clock
    private final long maxInitialSyncNanos;

    /** {@code perSecond} new streams per second, {@code maxSyncing} at most in their initial sync. */
    public StreamAdmission(double perSecond, int maxSyncing) {
        this(perSecond, maxSyncing, DEFAULT_MAX_INITIAL_SYNC);
    }

    /**
     * {@code perSecond} new streams per second, {@code maxSyncing} at most in their initial sync, each keeping its
     * place at most {@code maxInitialSync}.
     */
    public StreamAdmission(double perSecond, int maxSyncing, Duration maxInitialSync) {
        this(perSecond, maxSyncing, maxInitialSync, DEFAULT_MAX_STREAMS_PER_NODE);
    }

    /**
     * {@code perSecond} new streams per second, {@code maxSyncing} at most in their initial sync, each keeping its
     * place at most {@code maxInitialSync}; {@code maxStreamsPerNode} streams at most per node.
     */
    public StreamAdmission(double perSecond, int maxSyncing, Duration maxInitialSync, int maxStreamsPerNode) {
        this(perSecond, maxSyncing, MAX_WAIT, maxInitialSync, maxStreamsPerNode, System::nanoTime);
    }

    StreamAdmission(double perSecond, int maxSyncing, Duration maxWait, Duration maxInitialSync,
            LongSupplier clock) {
        this(perSecond, maxSyncing, maxWait, maxInitialSync, DEFAULT_MAX_STREAMS_PER_NODE, clock);
    }

    StreamAdmission(double perSecond, int maxSyncing, Duration maxWait, Duration maxInitialSync,
            int maxStreamsPerNode, LongSupplier clock) {
        if (!(perSecond > 0)) { // NaN too
            throw new IllegalArgumentException("perSecond: " + perSecond + " (expected: > 0)");
        }
        if (maxSyncing < 1) {
            throw new IllegalArgumentException("maxSyncing: " + maxSyncing + " (expected: >= 1)");
        }
        if (maxInitialSync.isNegative() || maxInitialSync.isZero()) {
            throw new IllegalArgumentException("maxInitialSync: " + maxInitialSync + " (expected: > 0)");
        }
        if (maxStreamsPerNode < 1) {
            throw new IllegalArgumentException("maxStreamsPerNode: " + maxStreamsPerNode + " (expected: >= 1)");
        }
        this.maxStreamsPerNode = maxStreamsPerNode;
        this.perSecond = perSecond;
        this.maxInitialSync = maxInitialSync;
        this.maxInitialSyncNanos = maxInitialSync.compareTo(Duration.ofNanos(Long.MAX_VALUE / 4)) > 0
                ? Long.MAX_VALUE / 4 : maxInitialSync.toNanos();
        this.intervalNanos = Double.isInfinite(perSecond) ? 0 : Math.max(1, Math.round(1e9 / perSecond));
        this.maxWaitNanos = maxWait.toNanos();
        this.maxSyncing = maxSyncing;
        this.clock = clock;
        this.nextTurn = new AtomicLong(clock.getAsLong());
    }

    /** No limit (tests of other things). */
    public static StreamAdmission unlimited() {
        return new StreamAdmission(Double.POSITIVE_INFINITY, Integer.MAX_VALUE, DEFAULT_MAX_INITIAL_SYNC,
                Integer.MAX_VALUE);
    }

    /** The rate as written in a status message: {@code 25}, {@code 0.5}. */
    String perSecondText() {
        return perSecond == Math.rint(perSecond) && !Double.isInfinite(perSecond) ? Long.toString((long) perSecond)
                : Double.toString(perSecond);
    }

    public int maxSyncing() {
        return maxSyncing;
    }

    /** Streams one node holds at most: its newest beyond ends its oldest ({@link NodeStreams}). */
    public int maxStreamsPerNode() {
        return maxStreamsPerNode;
    }

    /**
     * Longest a stream keeps its initial-sync place: one not through by then (a ztunnel that stalled, or never
     * subscribes {@code Address}) gives it up and goes on, so stalled streams never lock every other out.
     */
    public Duration maxInitialSync() {
        return maxInitialSync;
    }

    /** A stream's turn: how long it waits for it, or refused ({@code waitNanos < 0}). */
    public record Turn(long waitNanos, long end) {
        static final Turn REFUSED = new Turn(-1, 0);

        public boolean refused() {
            return waitNanos < 0;
        }
    }

    /** Reserves the next turn, unless the stream would wait longer than the most it may. */
    Turn reserve() {
        if (intervalNanos == 0) {
            return new Turn(0, 0);
        }
        // retried only when another event loop took a turn meanwhile
        while (true) {
            long now = clock.getAsLong();
            long next = nextTurn.get();
            long start = next - now > 0 ? next : now;
            long wait = start - now;
            if (wait > maxWaitNanos) {
                return Turn.REFUSED;
            }
            if (nextTurn.compareAndSet(next, start + intervalNanos)) {
                return new Turn(wait, start + intervalNanos);
            }
        }
    }

    /**
     * Gives back a turn whose stream went away while it waited, if no later turn was taken since (as Go's
     * {@code rate.Limiter} cancels a reservation).
     */
    void giveBack(Turn turn) {
        if (intervalNanos != 0 && turn.waitNanos() > 0) {
            nextTurn.compareAndSet(turn.end(), turn.end() - intervalNanos);
        }
    }

    /** Takes an initial-sync place, kept at most {@code maxInitialSync} from now; null when all are taken. */
    Place enterSync() {
        // retried only when another event loop took or freed a place meanwhile
        while (true) {
            int now = syncing.get();
            if (now >= maxSyncing) {
                return null;
            }
            if (syncing.compareAndSet(now, now + 1)) {
                return new Place(clock.getAsLong() + maxInitialSyncNanos);
            }
        }
    }

    /**
     * One of the {@code maxSyncing} initial-sync places, held by one stream at a time: freed once
     * ({@link #release}), or passed once to a newer stream of the same node ({@link #handOver}), whichever comes
     * first. The two streams may be on different event loops and race (the older one may be through its initial
     * sync, out of time or ended just as the newer one takes its place over): the place's one atomic owner flag
     * decides, so a place is never freed twice, nor counted twice, nor lost.
     */
    final class Place {
        private final AtomicBoolean held = new AtomicBoolean(true);
        // when the place is to be given up (clock nanos): kept across hand-overs, so that a node reconnecting again
        // and again keeps a place no longer than maxInitialSync
        private final long end;

        private Place(long end) {
            this.end = end;
        }

        /** Frees the place, unless it was freed or handed over already: whether it was freed now. */
        boolean release() {
            if (held.compareAndSet(true, false)) {
                syncing.decrementAndGet();
                return true;
            }
            return false;
        }

        /**
         * The place, for a newer stream of its node; this one holds it no more (its {@link #release} does nothing).
         * The count is unchanged. Null when it was freed or handed over already.
         */
        Place handOver() {
            return held.compareAndSet(true, false) ? new Place(end) : null;
        }

        /** Whether this place is still held (not freed, not handed over). */
        boolean held() {
            return held.get();
        }

        /** Nanos left before the place is to be given up; zero or less once past. */
        long remainingNanos() {
            return end - clock.getAsLong();
        }
    }

    /** Streams in their initial sync now. */
    int syncing() {
        return syncing.get();
    }
}
