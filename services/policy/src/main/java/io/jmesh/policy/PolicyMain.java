package io.jmesh.policy;

import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.policy.cli.PolicyCli;

/**
 * Runs policy: {@code java -jar policy.jar [--config policy.yaml]}, or the operator CLI:
 * {@code java -jar policy.jar apply -f <file|dir>} / {@code delete <kind>/<namespace>/<name>}.
 */
public final class PolicyMain {

    private PolicyMain() {}

    public static void main(String[] args) {
        if (PolicyCli.isCommand(args)) {
            PolicyCli.main(args);
            return;
        }
        ServiceLauncher.run("policy", PolicyConfig.class, args, PolicyBootstrap::new);
    }
}
