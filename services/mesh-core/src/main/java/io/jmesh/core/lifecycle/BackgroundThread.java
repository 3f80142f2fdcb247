package io.jmesh.core.lifecycle;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The one thread a control-plane component does its blocking work on (API calls, config-log writes, file scans),
 * away from the event loops: a daemon, so a stuck call never holds the process up at exit, and named, so a thread
 * dump says whose it is.
 */
public final class BackgroundThread {

    private BackgroundThread() {}

    /** A single daemon thread named {@code name}, for tasks now and later. */
    public static ScheduledExecutorService named(String name) {
        return Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Stops {@code executor}: what is queued runs (a release, a last write) for up to {@code grace}, then whatever
     * is still running is interrupted.
     */
    public static void stop(ExecutorService executor, Duration grace) {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            executor.shutdownNow();
        }
    }
}
