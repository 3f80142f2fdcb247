package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.channel.Channel;
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
 * A peer that froze (its machine hung, a middlebox dropped the flow) never closes its HBONE connection itself:
 * ztunnel's PINGs go unanswered and ztunnel drops the connection once {@code hbone.pingTimeout} has passed, so a
 * dead peer does not hold a connection and its buffers for ever. A peer that keeps answering keeps its connection.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StalledPeerTest {

    private static final String SERVER_IP = "127.0.92.11";

    @TempDir
    Path dir;

    private Vertx vertx;
    private ZtunnelHarness node;
    private RawHboneClient client;

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (node != null) {
            node.close();
        }
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aFrozenPeerIsDroppedAfterThePingTimeoutWhileAnAnsweringOneStays() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: server, name: server, namespace: default, serviceAccount: server, addresses: [%s],
                     node: node-s, tunnelProtocol: HBONE}
                """.formatted(SERVER_IP));
        node = ZtunnelHarness.start(dir, "node-s", setup.localNode("node-s", "127.0.92.1", mesh,
                "hbone: {pingInterval: 200ms, pingTimeout: 1s}"), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
        InetSocketAddress hbone = new InetSocketAddress(SERVER_IP, 15008);

        Channel frozen = client.stall(hbone, Duration.ofMillis(500));
        Channel answering = client.stall(hbone, Duration.ofMillis(0));
        answering.eventLoop().submit(() -> answering.config().setAutoRead(true)).sync();
        await().atMost(Duration.ofSeconds(5)).until(() -> node.ztunnel.inbound().openHboneConnections() == 2);

        // the frozen peer's connection goes; the answering one survives many timeouts' worth of PINGs after it
        await().atMost(Duration.ofSeconds(20)).alias("frozen peer dropped")
                .until(() -> node.ztunnel.inbound().openHboneConnections() == 1);
        Thread.sleep(3_000);
        assertThat(node.ztunnel.inbound().openHboneConnections()).as("the answering peer keeps its connection")
                .isEqualTo(1);
        assertThat(answering.isActive()).isTrue();
        frozen.close().sync();
        answering.close().sync();
    }
}
