package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
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
 * dead peer does not hold a connection and its buffers for ever, nor the tunnels it carried. A peer that keeps
 * answering keeps its connection.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StalledPeerTest {

    private static final String SERVER_IP = "127.0.92.11";
    private static final String TUNNEL_SERVER_IP = "127.0.187.11";

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

    /**
     * A peer that froze with a tunnel open loses its connection all the same, tunnel included (a graceful close
     * would wait for that tunnel to end, which it never will): the application's socket is reset and the tunnel
     * counted as a failure.
     */
    @Test
    void aFrozenPeerWithAnOpenTunnelIsDroppedWithIt() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: server, name: server, namespace: default, serviceAccount: server, addresses: [%s],
                     node: node-s, tunnelProtocol: HBONE}
                """.formatted(TUNNEL_SERVER_IP));
        node = ZtunnelHarness.start(dir, "node-s", setup.localNode("node-s", "127.0.187.1", mesh,
                "hbone: {pingInterval: 200ms, pingTimeout: 1s}"), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
        try (ServerSocket app = new ServerSocket()) {
            app.bind(new InetSocketAddress(TUNNEL_SERVER_IP, 0));
            Channel connection = client.connection(new InetSocketAddress(TUNNEL_SERVER_IP, 15008));
            RawHboneClient.Seen seen = new RawHboneClient.Seen();
            Http2StreamChannel stream = RawHboneClient.stream(connection, seen);
            RawHboneClient.headers(stream, RawHboneClient.connect(TUNNEL_SERVER_IP + ":" + app.getLocalPort()), "x",
                    false);
            assertThat(seen.status.get(10, TimeUnit.SECONDS)).isEqualTo(200);
            try (Socket peer = app.accept()) {
                peer.setSoTimeout(15_000); // far beyond the ping timeout: a read that times out is a hung tunnel
                assertThat(peer.getInputStream().read()).isEqualTo('x');
                connection.eventLoop().submit(() -> connection.config().setAutoRead(false)).sync(); // frozen
                assertThatThrownBy(() -> peer.getInputStream().read()).as("the application's socket is reset")
                        .isInstanceOf(SocketException.class);
            } finally {
                connection.close().sync();
            }
        }
        assertThat(node.ztunnel.inbound().openHboneConnections()).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> node.metricSum("istio_tcp_connections_failed_total",
                "reporter=\"destination\"") == 1);
    }
}
