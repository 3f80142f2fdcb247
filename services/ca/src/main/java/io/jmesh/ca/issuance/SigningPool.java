package io.jmesh.ca.issuance;

import io.jmesh.core.lifecycle.BackgroundThread;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads that verify CSRs and sign certificates, so event loops never do CPU work. Bounded twice: a fixed
 * number of threads and a fixed queue of waiting requests; {@link #submit} refuses at once (never blocks) when
 * the queue is full, and the caller answers {@code UNAVAILABLE}.
 *
 * <p>Thread-safe.
 */
public final class SigningPool implements AutoCloseable {

    private final ThreadPoolExecutor executor;

    public SigningPool(String name, int threads, int maxPending) {
        AtomicInteger n = new AtomicInteger();
        this.executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(maxPending), r -> {
                    Thread t = new Thread(r, name + "-signing-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                }, new ThreadPoolExecutor.AbortPolicy());
    }

    /**
     * Queues {@code work}.
     *
     * @return false when every thread is busy and the queue is full (nothing was queued)
     */
    public boolean submit(Runnable work) {
        try {
            executor.execute(work);
            return true;
        } catch (RejectedExecutionException e) {
            return false;
        }
    }

    /** Requests queued or running. */
    public int pending() {
        return executor.getQueue().size() + executor.getActiveCount();
    }

    @Override
    public void close() {
        BackgroundThread.stop(executor, java.time.Duration.ofSeconds(5));
    }
}
