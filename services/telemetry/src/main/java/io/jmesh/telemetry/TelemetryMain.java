package io.jmesh.telemetry;

import io.jmesh.core.lifecycle.ServiceLauncher;

/** Runs telemetry: {@code java -jar telemetry.jar [--config telemetry.yaml]}. */
public final class TelemetryMain {

    private TelemetryMain() {}

    public static void main(String[] args) {
        ServiceLauncher.run("telemetry", TelemetryConfig.class, args, TelemetryBootstrap::new);
    }
}
