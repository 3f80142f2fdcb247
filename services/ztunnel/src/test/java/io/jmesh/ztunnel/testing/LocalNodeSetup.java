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

    /** {@link ZtunnelHarness#localNode} for this CA and token. */
    public String localNode(String node, String address, Path mesh, String extra) throws Exception {
        return ZtunnelHarness.localNode(node, address, mesh.toString(), caPort, token, extra);
    }
}
