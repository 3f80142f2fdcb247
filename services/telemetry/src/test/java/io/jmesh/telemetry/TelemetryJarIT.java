package io.jmesh.telemetry;

import io.jmesh.testing.ServiceJarContract;
import java.nio.file.Path;

/** The runnable {@code telemetry.jar} keeps the operator contract (see {@link ServiceJarContract}). */
class TelemetryJarIT extends ServiceJarContract {

    @Override
    protected String minimalConfig(Path dir) {
        return "admin:\n  host: 127.0.0.1\n  port: 0\ndrainDeadline: 2s\n";
    }
}
