package io.jmesh.ztunnel.trust;

import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Two ztunnels (node-a with a {@code sleep} client at {@link #clientIp}, node-b with an {@code echo} pod at
 * {@link #echoIp}) in local mode, getting certificates and the trust bundle from a real {@code ca} over TLS with
 * their node tokens.
 */
final class RealCaMesh implements AutoCloseable {

    final Vertx vertx = Vertx.vertx();
    final String clientIp;
    final String echoIp;
    final EchoServer echo;
    final int echoPort;
    final ZtunnelHarness nodeA;
    final ZtunnelHarness nodeB;

    RealCaMesh(CaServerExtension ca, Path dir, String clientIp, String echoIp) throws Exception {
        this.clientIp = clientIp;
        this.echoIp = echoIp;
        echo = new EchoServer(vertx);
        echoPort = echo.start(echoIp).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        Path roots = dir.resolve("ca-roots.pem");
        Files.writeString(roots, ca.rootsPem());
        Path config = dir.resolve("mesh.yaml");
        Files.writeString(config, """
                workloads:
                  - uid: node-a/default/sleep-1
                    name: sleep-1
                    namespace: default
                    serviceAccount: sleep
                    addresses: [%s]
                    node: node-a
                    tunnelProtocol: HBONE
                  - uid: node-b/default/echo-1
                    name: echo-1
                    namespace: default
                    serviceAccount: echo
                    addresses: [%s]
                    node: node-b
                    tunnelProtocol: HBONE
                """.formatted(clientIp, echoIp));
        nodeA = node(ca, dir, "node-a", config, roots, nodeAddress(clientIp), "");
        nodeB = node(ca, dir, "node-b", config, roots, nodeAddress(echoIp), "");
    }

    /**
     * One ztunnel as {@code node} at {@code address}, certificates from {@code ca} and its trust bundle from
     * {@code trustBundleAddress} (empty: the ca itself).
     */
    static ZtunnelHarness node(CaServerExtension ca, Path dir, String node, Path config, Path roots,
            String address, String trustBundleAddress) throws Exception {
        Path token = dir.resolve(node + ".token");
        Files.writeString(token, ca.nodeToken(node) + "\n");
        String yaml = """
                logLevel: info
                drainDeadline: 2s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: %s, address: %s}
                listeners: {hbone: 15008, inboundPlaintext: -1, outboundCapture: -1, socks5: 0, localAdmin: -1,
                            readiness: -1, inboundPerWorkload: true, transparent: false}
                discovery: {staticFile: "%s"}
                identity:
                  caAddress: "127.0.0.1:%d"
                  tokenFile: "%s"
                  rootCertFile: "%s"
                  trustBundle: {watch: true, address: "%s", initialBackoff: 50ms, maxBackoff: 1s}
                """.formatted(node, address, config, ca.port(), token, roots, trustBundleAddress);
        return ZtunnelHarness.start(dir, node, yaml, null);
    }

    /** The node's address: its pod's address with the last octet 1. */
    private static String nodeAddress(String podIp) {
        return podIp.substring(0, podIp.lastIndexOf('.')) + ".1";
    }

    boolean followingCa() {
        return nodeA.ready() && nodeB.ready() && nodeA.ztunnel.trustWatcher().appliedVersion() > 0
                && nodeB.ztunnel.trustWatcher().appliedVersion() > 0;
    }

    @Override
    public void close() throws Exception {
        nodeA.close();
        nodeB.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
