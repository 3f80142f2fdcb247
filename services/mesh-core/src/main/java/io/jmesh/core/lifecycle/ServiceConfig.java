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
}
