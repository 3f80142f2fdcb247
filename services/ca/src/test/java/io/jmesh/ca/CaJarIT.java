package io.jmesh.ca;

import io.jmesh.testing.ServiceJarContract;
import java.nio.file.Path;

/** The runnable {@code ca.jar} keeps the operator contract (see {@link ServiceJarContract}). */
class CaJarIT extends ServiceJarContract {

    @Override
    protected String minimalConfig(Path dir) {
        return "admin:\n  host: 127.0.0.1\n  port: 0\ndrainDeadline: 2s\nstateDir: " + dir.resolve("state")
                + "\ngrpc:\n  host: 127.0.0.1\n  port: 0\n";
    }
}
