package io.jmesh.ztunnel;

import io.jmesh.core.lifecycle.ServiceLauncher;

/** Runs ztunnel: {@code java -jar ztunnel.jar [--config ztunnel.yaml]}. */
public final class ZtunnelMain {

    private ZtunnelMain() {}

    public static void main(String[] args) {
        ServiceLauncher.run("ztunnel", ZtunnelConfig.class, args, ZtunnelBootstrap::new);
    }
}
