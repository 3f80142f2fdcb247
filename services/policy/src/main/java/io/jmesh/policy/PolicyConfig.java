package io.jmesh.policy;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.time.Duration;

/** Configuration of policy; defaults in {@code policy-defaults.yaml}. */
public record PolicyConfig(String logLevel, Duration drainDeadline, AdminConfig admin) implements ServiceConfig {}
