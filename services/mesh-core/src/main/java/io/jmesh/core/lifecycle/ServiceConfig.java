package io.jmesh.core.lifecycle;

import io.jmesh.core.config.AdminConfig;
import java.time.Duration;

/** What every service's configuration has, so the launcher can run any of them. */
public interface ServiceConfig {

    /** Where {@code /metrics} and {@code /healthz/ready} are served. */
    AdminConfig admin();

    /** How long a SIGTERM waits for in-flight work before force-closing. */
    Duration drainDeadline();

    /** Root log level: trace, debug, info, warn, error. */
    String logLevel();

    /** Vert.x event loop threads; 0 keeps Vert.x's default (two per CPU). */
    default int ioThreads() {
        return 0;
    }

    /**
     * Vert.x worker threads, for the short blocking tasks a service hands off its event loops; 0 keeps Vert.x's
     * default (20). The pool starts a thread for each task until it has them all and keeps them for good, so a
     * service whose blocking work is small bounds it.
     */
    default int blockingThreads() {
        return 0;
    }
}
