package io.jmesh.waypoint;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.lifecycle.ServiceConfig;
import java.time.Duration;

/** Configuration of waypoint-mgr; defaults in {@code waypoint-mgr-defaults.yaml}. */
public record WaypointManagerConfig(String logLevel, Duration drainDeadline, AdminConfig admin) implements ServiceConfig {}
