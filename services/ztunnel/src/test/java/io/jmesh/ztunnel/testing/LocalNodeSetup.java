package io.jmesh.ztunnel.testing;

import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a whole-ztunnel test needs before its node starts: a running {@link TestCa} that accepts the node token
 * {@code tok}, that token in a file, and the node's static mesh file.
 */
public record LocalNodeSetup(TestCa ca, int caPort, Path token, Path dir) {

    public static LocalNodeSetup start(Vertx vertx, Path dir) throws Exception {
        TestCa ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        return new LocalNodeSetup(ca, caPort, token, dir);
    }

    /** Writes the static mesh file ({@code workloads:}, {@code services:}, {@code authorizations:}). */
    public Path mesh(String yaml) throws Exception {
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, yaml);
        return mesh;
    }

    /**
     * The static mesh file of the simplest mesh: workloads {@code client} and {@code echo} (service accounts of the
     * same names, namespace {@code default}, HBONE) at the given addresses, both on {@code node}.
     */
    public Path clientAndEcho(String node, String clientIp, String echoIp) throws Exception {
        return mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: %s, tunnelProtocol: HBONE}
                  - {uid: echo, name: echo, namespace: default, serviceAccount: echo, addresses: [%s], node: %s,
                     tunnelProtocol: HBONE}
                """.formatted(clientIp, node, echoIp, node));
    }

    /** {@link ZtunnelHarness#localNode} for this CA and token. */
    public String localNode(String node, String address, Path mesh, String extra) throws Exception {
        return ZtunnelHarness.localNode(node, address, mesh.toString(), caPort, token, extra);
    }
}
