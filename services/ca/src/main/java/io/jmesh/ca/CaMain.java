package io.jmesh.ca;

import io.jmesh.ca.cli.CaCli;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.core.logging.JsonLogging;
import java.time.Clock;

/**
 * Runs ca: {@code java -jar ca.jar [--config ca.yaml]}; or one operator command on the state directory, e.g.
 * {@code java -jar ca.jar token create --node node-a --state-dir ./ca-state} (see {@link CaCli}).
 */
public final class CaMain {

    private CaMain() {}

    public static void main(String[] args) {
        if (args.length > 0 && CaCli.COMMANDS.contains(args[0])) {
            // stdout carries only the command's answer (a token): no log lines there
            JsonLogging.install("off");
            System.exit(new CaCli(System.out, System.err, Clock.systemUTC()).run(args));
        }
        ServiceLauncher.run("ca", CaConfig.class, args, CaBootstrap::new);
    }
}
