package io.jmesh.loadtest.ztunnel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The east-west gateway of the double-HBONE path: ztunnel's interop peer {@value #SCRIPT} in its {@code gateway}
 * mode, an HBONE server written with Node.js's http2 module (one single-threaded process; an independent
 * implementation, not a production gateway). It requires a client certificate, looks each CONNECT's
 * {@code hostname:port} up in its routes, and pipes the stream's bytes, unread, to the address found (the
 * destination ztunnel's 15008): the inner mTLS runs end to end between the two ztunnels. Its log has one JSON line
 * per stream.
 */
final class EastWestGateway {

    /** The script, relative to the repository root. */
    static final String SCRIPT = "services/ztunnel/src/test/node/hbone-peer.mjs";
    /** The identity ztunnel expects of an east-west gateway (its workload's service account in the mesh file). */
    static final String IDENTITY = "spiffe://cluster.local/ns/istio-system/sa/istio-eastwestgateway";
    /** What the script watches each stream for in the clear (its test's check); no load sends it. */
    private static final String MARKER = "jmesh-bench-plaintext-marker";

    final Process process;
    private final Path log;

    EastWestGateway(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    static List<String> command(Path repo, String address, int port, BenchPki.LeafFiles leaf, Path ca,
            Map<String, String> routes) {
        String routesJson = routes.entrySet().stream()
                .map(e -> "\"" + e.getKey() + "\":\"" + e.getValue() + "\"")
                .collect(Collectors.joining(",", "{", "}"));
        return List.of("node", repo.resolve(SCRIPT).toString(), "gateway", address, String.valueOf(port),
                leaf.cert().toString(), leaf.key().toString(), ca.toString(), routesJson, MARKER);
    }

    /** Waits (at most 30 s) for the gateway's {@code {"listening":port}} line; fails if it exits first. */
    void awaitListening() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log).contains("{\"listening\":")) {
                return;
            }
            if (!process.isAlive()) {
                throw new IllegalStateException("the east-west gateway exited with " + process.exitValue() + ": "
                        + Files.readString(log));
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("the east-west gateway did not listen within 30 s (see " + log + ")");
    }

    /** How many CONNECTs for {@code authority} the gateway has received so far (one per application connection). */
    long connects(String authority) throws IOException {
        String prefix = "{\"authority\":\"" + authority + "\"";
        try (var lines = Files.lines(log)) {
            return lines.filter(l -> l.startsWith(prefix)).count();
        }
    }
}
