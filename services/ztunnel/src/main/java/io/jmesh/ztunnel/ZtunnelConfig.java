package io.jmesh.ztunnel;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.time.Duration;

/** Configuration of ztunnel; defaults in {@code ztunnel-defaults.yaml}. */
public record ZtunnelConfig(String logLevel, Duration drainDeadline, AdminConfig admin) implements ServiceConfig {}
