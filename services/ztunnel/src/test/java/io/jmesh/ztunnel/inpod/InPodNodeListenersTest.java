package io.jmesh.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * In in-pod mode the DNS proxy lives in each pod's network namespace (127.0.0.1:15053 there, as Istio's), so the node
 * opens none of its own: Istio's ztunnel in in-pod mode starts no node-level proxy at all, and a node listener
 * nobody's traffic is redirected to would only be one more open port. No CNI node agent runs here: the node-level
 * start does not wait for one.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InPodNodeListenersTest {

    static final String NODE_IP = "127.0.149.1";
    static final int DNS_PORT = 15053;
    static final int SOCKS5_PORT = 15080;

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("workloads: []\n");
        node = ZtunnelHarness.start(dir, "node-p", """
                logLevel: info
                drainDeadline: 2s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-p, address: %s}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: %d, localAdmin: 0,
                            readiness: 0, dns: %d, inboundPerWorkload: false, transparent: false}
                discovery: {staticFile: "%s"}
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                inpod: {enabled: true, socket: "%s", retryInterval: 1h}
                """.formatted(NODE_IP, SOCKS5_PORT, DNS_PORT, mesh, setup.caPort(), setup.token(), dir.resolve("no-agent.sock")),
                null);
    }

    @AfterAll
    static void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void theNodeOpensNoDnsListenerOfItsOwn() {
        assertThat(node.ztunnel.dns()).as("node-level DNS proxy").isNull();
        assertRefused(DNS_PORT);
    }

    /**
     * Istio's ztunnel starts no node-level proxy in in-pod mode, SOCKS5 included (where enabled it is one more
     * listener of each pod's proxy): the pods' own rules send their traffic to their 15001, so a node-level 15080 is
     * only one more open port on the node.
     */
    @Test
    void theNodeOpensNoSocks5ListenerEvenWhenConfigured() {
        assertRefused(SOCKS5_PORT);
    }

    private static void assertRefused(int port) {
        assertThatThrownBy(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(NODE_IP, port), 5000);
            }
        }).as("a connection to the node's port " + port).isInstanceOf(ConnectException.class);
    }
}
