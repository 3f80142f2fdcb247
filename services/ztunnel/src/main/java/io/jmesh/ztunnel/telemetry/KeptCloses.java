package io.jmesh.ztunnel.telemetry;

import io.jmesh.core.kafka.EventPublisher;
import io.netty.util.internal.PlatformDependent;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.Queue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * CLOSED events the publisher had no room for, kept to be offered again. Nothing later makes a CLOSED's loss good
 * (the connection's close, the rest of its bytes, the end of its open count in the telemetry service), so one the
 * publisher refuses is kept and offered again as soon as the publisher has room ({@link EventPublisher#whenRoom}),
 * at each progress walk, and at shutdown ({@link #stop}), which waits for room. Bounded ({@link #CAPACITY}):
 * beyond it they are lost, counted in {@code ztunnel_connection_closes_lost_total}. An OPENED is not kept: sent
 * after its CLOSED it would leave the connection open for good; its CLOSED says it was dropped.
 *
 * <p>Multi-consumer: the publisher's sender, the progress walk and {@link #stop} may all take. A refill that is
 * under way when shutdown begins puts back what the publisher refuses, and {@link #stop} waits for it to finish
 * before its last offer, so such an event gets that offer too instead of being counted lost.
 */
final class KeptCloses {

    /** How many refused CLOSED events are kept. */
    static final int CAPACITY = 4096;

    /** Where CLOSED events go: the event publisher (tests give their own). */
    interface Outlet {
        /**
         * Hands {@code e} over, or returns false when there is no room now.
         *
         * @param lostLater runs if Kafka refuses it after it was handed over
         */
        boolean offer(EncodedEvent e, Runnable lostLater);

        /** Counts one event given up on (the publisher's {@code mesh_events_dropped_total}). */
        void countRefused();
    }

    private final Outlet outlet;
    private final Queue<EncodedEvent> kept = PlatformDependent.newFixedMpmcQueue(CAPACITY);
    /** CLOSED events lost for good: no room to keep them, refused by Kafka, or still kept at shutdown. */
    private final Counter lost;
    /** {@link #lost}'s increment, the callback of every CLOSED the publisher takes (Kafka may still refuse it). */
    private final Runnable closeLost;
    /** Set by {@link #stop}: from then on a refused CLOSED is lost at once, no walk would offer it again. */
    private volatile boolean stopped;
    /**
     * {@link #offerKept} runs under way. Raised before a run reads {@link #stopped}, which {@link #stop} sets before
     * it reads this: either the run sees the stop and leaves, or the stop sees the run and waits for it.
     */
    private final AtomicInteger refilling = new AtomicInteger();

    /** Kept CLOSED events of {@code topic}, offered again whenever {@code events} has room. */
    static KeptCloses of(EventPublisher events, String topic, PrometheusRegistry metrics) {
        KeptCloses k = new KeptCloses(new Outlet() {
            @Override
            public boolean offer(EncodedEvent e, Runnable lostLater) {
                return events.offer(topic, e.key(), e.value(), lostLater);
            }

            @Override
            public void countRefused() {
                events.countRefused(topic);
            }
        }, metrics);
        if (events != null) {
            events.whenRoom(k::offerKept); // a kept CLOSED goes out as soon as the queue has room again
        }
        return k;
    }

    KeptCloses(Outlet outlet, PrometheusRegistry metrics) {
        this.outlet = outlet;
        lost = Counter.builder().name("ztunnel_connection_closes_lost_total")
                .help("CLOSED connection events lost for good: the event publisher had no room for them and there was "
                        + "no room left to keep them for a later attempt, Kafka refused them (send_failed), or they "
                        + "were still kept when ztunnel stopped").register(metrics);
        closeLost = lost::inc;
        GaugeWithCallback.builder().name("ztunnel_connection_closes_kept")
                .help("CLOSED connection events the event publisher had no room for, kept to be offered again")
                .callback(cb -> cb.call(kept.size())).register(metrics);
    }

    /** Hands a CLOSED to the publisher, or keeps it when the publisher has no room. Never blocks; any thread. */
    void publish(EncodedEvent closed) {
        if (!offer(closed)) {
            keep(closed);
        }
    }

    /**
     * Offers the kept CLOSED events again, until the publisher refuses one: run by the publisher's sender each time
     * its queue runs empty while Kafka can take more, and by each progress walk. Never blocks; any thread. Once
     * {@link #stop} began it leaves them to it: stop waits for room, where a refusal here would count the event
     * lost.
     *
     * @return whether it offered any
     */
    boolean offerKept() {
        refilling.incrementAndGet();
        try {
            if (stopped) {
                return false;
            }
            boolean offered = false;
            for (int i = CAPACITY; i > 0; i--) {
                EncodedEvent e = kept.poll();
                if (e == null) {
                    break;
                }
                offered = true;
                if (!offer(e)) {
                    // the publisher is full again: this one and the rest wait for the next room, or for stop(),
                    // which waits for this run before its last offer
                    if (!kept.offer(e)) {
                        lose();
                    }
                    break;
                }
            }
            return offered;
        } finally {
            refilling.decrementAndGet();
        }
    }

    /**
     * Shutdown, once the connections closed and before the publisher closes: offers the kept CLOSED events once
     * more, waiting for room in the publisher (its sender drains it) until {@code within} is over; those that do
     * not go are lost, counted. From now on a CLOSED the publisher refuses is lost at once. Blocks (up to
     * {@code within}): call off the event loops.
     *
     * @return how many kept CLOSED events the publisher took
     */
    int stop(Duration within) {
        stopped = true;
        long deadline = System.nanoTime() + within.toNanos();
        while (refilling.get() > 0 && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(100_000); // a refill under way puts back what it could not hand over
        }
        int sent = 0;
        for (int i = CAPACITY; i > 0; i--) {
            EncodedEvent e = kept.poll();
            if (e == null) {
                break;
            }
            boolean taken = offer(e);
            while (!taken && System.nanoTime() - deadline < 0) {
                LockSupport.parkNanos(1_000_000); // the sender makes room
                taken = offer(e);
            }
            if (taken) {
                sent++;
            } else {
                lose(); // past the deadline: each of the rest gets one try
            }
        }
        loseKept(); // kept by a close that raced this walk
        return sent;
    }

    /** Hands a CLOSED to the publisher, uncounted if refused (it is kept); false when it had no room. */
    private boolean offer(EncodedEvent e) {
        return outlet.offer(e, closeLost);
    }

    /**
     * Keeps a refused CLOSED for the next offer, or counts it lost (in the publisher's
     * {@code mesh_events_dropped_total} too) when there is no room or ztunnel is stopping.
     */
    private void keep(EncodedEvent e) {
        if (stopped || !kept.offer(e)) {
            lose();
        } else if (stopped) {
            loseKept(); // stop() may have finished its last offer before this one was kept
        }
    }

    private void lose() {
        outlet.countRefused();
        lost.inc();
    }

    private void loseKept() {
        for (int i = CAPACITY; i > 0 && kept.poll() != null; i--) {
            lose();
        }
    }
}
