package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A workload cannot make ztunnel connect to ztunnel: its local-only admin, its metrics or its own listeners are
 * refused on the way out (Istio's SelfCall), and a pod cannot borrow ztunnel to reach the node's loopback.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SelfCallTest {

    static final String CLIENT_IP = "127.0.62.12";
    static final int ADMIN = 15977;

    @TempDir
    Path dir;
    Vertx vertx;
    ZtunnelHarness node;

    @AfterEach
    void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theLocalAdminAndZtunnelsOwnListenersAreRefusedThroughSocks() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-s, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP));
        String yaml = setup.localNode("node-s", "127.0.62.1", mesh, null).replace("localAdmin: 0",
                "localAdmin: " + ADMIN);
        node = ZtunnelHarness.start(dir, "node-s", yaml, null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);

        for (String host : new String[] {"127.0.0.1", "127.0.62.1"}) {
            assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, host, ADMIN))
                    .as("CONNECT %s:%d (ztunnel's admin)", host, ADMIN)
                    .isInstanceOf(Socks5Client.Refused.class);
        }
        assertThat(node.metric("ztunnel_connection_rejections_total", "direction", "outbound", "reason",
                OutboundRouter.ILLEGAL_PORT)).isEqualTo(2.0);
    }

    @Test
    void onlyTheLoopbackMayAskForTheNodesLoopback() {
        InetSocketAddress kubelet = new InetSocketAddress("127.0.0.1", 10248);
        InetSocketAddress anyLocal = new InetSocketAddress("0.0.0.0", 10248);
        InetSocketAddress pod = new InetSocketAddress("10.244.1.7", 40000);
        InetSocketAddress localModeWorkload = new InetSocketAddress("127.0.62.12", 40000);
        assertThat(OutboundProxy.reachesNodeLoopback(kubelet, pod, false)).isTrue();
        assertThat(OutboundProxy.reachesNodeLoopback(anyLocal, pod, false)).isTrue();
        // in-pod mode dials from the pod's own namespace: its loopback is the pod's
        assertThat(OutboundProxy.reachesNodeLoopback(kubelet, pod, true)).isFalse();
        // local mode: the workload is on this loopback already
        assertThat(OutboundProxy.reachesNodeLoopback(kubelet, localModeWorkload, false)).isFalse();
        assertThat(OutboundProxy.reachesNodeLoopback(new InetSocketAddress("10.0.0.9", 80), pod, false)).isFalse();
    }
}
