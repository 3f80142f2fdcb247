package io.jmesh.ca;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.time.Duration;

/** Configuration of ca; defaults in {@code ca-defaults.yaml}. */
public record CaConfig(String logLevel, Duration drainDeadline, AdminConfig admin) implements ServiceConfig {}
