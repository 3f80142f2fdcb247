package io.jmesh.ca;

import io.jmesh.core.lifecycle.ServiceLauncher;

/** Runs ca: {@code java -jar ca.jar [--config ca.yaml]}. */
public final class CaMain {

    private CaMain() {}

    public static void main(String[] args) {
        ServiceLauncher.run("ca", CaConfig.class, args, CaBootstrap::new);
    }
}
