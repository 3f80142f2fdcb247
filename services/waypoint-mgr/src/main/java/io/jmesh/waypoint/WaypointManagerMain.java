package io.jmesh.waypoint;

import io.jmesh.core.lifecycle.ServiceLauncher;

/** Runs waypoint-mgr: {@code java -jar waypoint-mgr.jar [--config waypoint-mgr.yaml]}. */
public final class WaypointManagerMain {

    private WaypointManagerMain() {}

    public static void main(String[] args) {
        ServiceLauncher.run("waypoint-mgr", WaypointManagerConfig.class, args, WaypointManagerBootstrap::new);
    }
}
