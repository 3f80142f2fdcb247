package io.jmesh.core.lifecycle;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The "stop accepting, finish what you have" signal of a graceful shutdown. Components register a listener
 * (close listeners, send GOAWAY); the launcher triggers it once on SIGTERM or {@code /quitquitquit}.
 *
 * <p>Thread-safe. Listeners run on the triggering thread, exactly once; a listener registered after the trigger
 * runs immediately.
 */
public final class DrainSignal {

    private static final Logger log = LoggerFactory.getLogger(DrainSignal.class);

    private final AtomicBoolean triggered = new AtomicBoolean();
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    public boolean isDraining() {
        return triggered.get();
    }

    public void onDrain(Runnable listener) {
        listeners.add(listener);
        if (triggered.get() && listeners.remove(listener)) {
            run(listener);
        }
    }

    /** Fires the signal; later calls do nothing. */
    public void trigger() {
        if (triggered.compareAndSet(false, true)) {
            for (Runnable r : listeners) {
                if (listeners.remove(r)) {
                    run(r);
                }
            }
        }
    }

    private static void run(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.atWarn().setCause(e).log("drain listener failed");
        }
    }
}
