package io.jmesh.telemetry;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.time.Duration;

/** Configuration of telemetry; defaults in {@code telemetry-defaults.yaml}. */
public record TelemetryConfig(String logLevel, Duration drainDeadline, AdminConfig admin) implements ServiceConfig {}
