package io.jmesh.policy;

import io.jmesh.core.lifecycle.ServiceLauncher;

/** Runs policy: {@code java -jar policy.jar [--config policy.yaml]}. */
public final class PolicyMain {

    private PolicyMain() {}

    public static void main(String[] args) {
        ServiceLauncher.run("policy", PolicyConfig.class, args, PolicyBootstrap::new);
    }
}
