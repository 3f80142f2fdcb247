package io.jmesh.localmesh.run;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One process of the local mesh.
 *
 * @param name short name shown in progress lines and the table, also the log file name
 * @param command the full command line (usually {@code java -jar services/<name>/target/<name>.jar ...})
 * @param environment variables added to the inherited environment
 * @param ready the URL that answers 200 once the process is ready (its {@code /healthz/ready})
 * @param address what the table shows as its address
 * @param ports what the table shows as its ports
 * @param namespace the network namespace it runs in (its command starts with {@code ip netns exec}); empty: this
 *     one. Its readiness is then probed from inside that namespace.
 */
public record Component(String name, List<String> command, Map<String, String> environment, URI ready,
        String address, String ports, String namespace) {

    public Component {
        command = List.copyOf(command);
        environment = Map.copyOf(environment);
        namespace = namespace == null ? "" : namespace;
    }

    Path logFile(Path logDir) {
        return logDir.resolve(name + ".log");
    }
}
