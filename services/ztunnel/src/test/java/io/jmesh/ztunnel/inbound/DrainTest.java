package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inbound HBONE while ztunnel drains: the graceful end in two steps (GOAWAY for stream 2^31-1 and a PING, then the
 * last stream taken), connections accepted before the drain served, and each connection closed after its last
 * tunnel, long before the drain's deadline (40 s here).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DrainTest {

    static final String APP_IP = "127.0.64.11";
    static final InetSocketAddress HBONE = new InetSocketAddress(APP_IP, 15008);

    @TempDir
    Path dir;
    Vertx vertx;
    LocalNodeSetup setup;
    ZtunnelHarness node;
    RawHboneClient client;
    ServerSocket app;

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (node != null) {
            node.close();
        }
        if (app != null) {
            app.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** A node serving workload {@code app} on {@link #APP_IP}, its CA answering only when told with {@code holdCa}. */
    void start(boolean holdCa) throws Exception {
        vertx = Vertx.vertx();
        app = new ServerSocket();
        app.bind(new InetSocketAddress(APP_IP, 0));
        app.setSoTimeout(10_000);
        setup = LocalNodeSetup.start(vertx, dir);
        setup.ca().hold = holdCa;
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: app, name: app, namespace: default, serviceAccount: app, addresses: [%s], node: node-d,
                     tunnelProtocol: HBONE}
                """.formatted(APP_IP));
        node = ZtunnelHarness.start(dir, "node-d",
                setup.localNode("node-d", "127.0.64.1", mesh, null).replace("drainDeadline: 5s", "drainDeadline: 40s"),
                null);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
    }

    CompletableFuture<Socket> accept() {
        return CompletableFuture.supplyAsync(() -> {
            try {
                Socket s = app.accept();
                s.setSoTimeout(10_000);
                return s;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /**
     * The peer sent its CONNECT before it saw the GOAWAY: it is served (the first GOAWAY names stream 2^31-1), and
     * only after the PING came back does the final GOAWAY name the last stream taken. The tunnel then runs to its
     * end, and the connection closes with it. (A single GOAWAY naming the streams seen so far would refuse it.)
     */
    @Test
    void aConnectCrossingTheDrainsGoAwayIsServedAndTheConnectionClosesAfterItsTunnel() throws Exception {
        start(false);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        BlockingQueue<String> frames = new LinkedBlockingQueue<>();
        Channel connection = client.connectionAnsweringPingsByHand(HBONE, frames);
        Future<Void> drained = node.ztunnel.drain();
        awaitFrame(frames, "GOAWAY 2147483647 0");
        awaitFrame(frames, "PING " + GracefulGoAway.PING_PAYLOAD);

        CompletableFuture<Socket> accepted = accept();
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel stream = RawHboneClient.stream(connection, seen);
        RawHboneClient.headers(stream, RawHboneClient.connect(APP_IP + ":" + app.getLocalPort()), "a", false);
        assertThat(seen.status.get(10, TimeUnit.SECONDS)).isEqualTo(200);

        RawHboneClient.answerPing(connection, GracefulGoAway.PING_PAYLOAD);
        awaitFrame(frames, "GOAWAY " + stream.stream().id() + " 0");
        try (Socket peer = accepted.get(10, TimeUnit.SECONDS)) {
            RawHboneClient.data(stream, "c", true);
            assertThat(readAll(peer.getInputStream())).isEqualTo("ac");
            assertThat(drained.isComplete()).as("drained while a tunnel is open").isFalse();
            peer.getOutputStream().write("b".getBytes(StandardCharsets.UTF_8));
        }
        assertThat(seen.end.get(10, TimeUnit.SECONDS)).isEqualTo("eos");
        assertThat(seen.body.toString()).isEqualTo("b");
        connection.closeFuture().await(10, TimeUnit.SECONDS);
        assertThat(connection.isOpen()).as("closed by ztunnel after its last stream").isFalse();
        drained.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** A connection carrying no tunnel is closed as soon as the PING round trip is done: the drain does not wait. */
    @Test
    void anIdleConnectionIsClosedAfterThePingRoundTrip() throws Exception {
        start(false);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        Channel connection = client.connection(HBONE);
        Future<Void> drained = node.ztunnel.drain();
        connection.closeFuture().await(10, TimeUnit.SECONDS);
        assertThat(connection.isOpen()).as("closed, long before the 40 s drain deadline").isFalse();
        drained.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /**
     * A connection accepted before the drain whose workload certificate arrives after it began is served like the
     * others: its handshake completes, its CONNECT is answered, it is told at once that ztunnel is going away, and
     * it closes after its tunnel (the peer may have sent that CONNECT with its handshake: closing it would fail a
     * tunnel that its client could not know to send elsewhere).
     */
    @Test
    void aConnectionWhoseCertificateArrivesAfterTheDrainBeganIsServed() throws Exception {
        start(true);
        await().atMost(Duration.ofSeconds(20)).until(() -> !setup.ca().held.isEmpty());
        // accepted; the server awaits its certificate. The test answers the drain's PING itself, after its CONNECT:
        // a client whose CONNECT left with its handshake, before it could see any GOAWAY
        BlockingQueue<String> frames = new LinkedBlockingQueue<>();
        CompletableFuture<Channel> handshake = client.connecting(HBONE, frames);
        Future<Void> drained = node.ztunnel.drain();
        Runnable answer;
        while ((answer = setup.ca().held.poll()) != null) {
            answer.run();
        }
        setup.ca().hold = false;
        Channel connection = handshake.get(10, TimeUnit.SECONDS);

        CompletableFuture<Socket> accepted = accept();
        RawHboneClient.Seen seen = new RawHboneClient.Seen();
        Http2StreamChannel stream = RawHboneClient.stream(connection, seen);
        RawHboneClient.headers(stream, RawHboneClient.connect(APP_IP + ":" + app.getLocalPort()), "late", true);
        assertThat(seen.status.get(10, TimeUnit.SECONDS)).isEqualTo(200);
        awaitFrame(frames, "GOAWAY 2147483647 0"); // told at once that ztunnel is going away
        awaitFrame(frames, "PING " + GracefulGoAway.PING_PAYLOAD);
        RawHboneClient.answerPing(connection, GracefulGoAway.PING_PAYLOAD);
        awaitFrame(frames, "GOAWAY " + stream.stream().id() + " 0");
        try (Socket peer = accepted.get(10, TimeUnit.SECONDS)) {
            assertThat(readAll(peer.getInputStream())).isEqualTo("late");
        }
        assertThat(seen.end.get(10, TimeUnit.SECONDS)).isEqualTo("eos");
        connection.closeFuture().await(10, TimeUnit.SECONDS);
        assertThat(connection.isOpen()).as("closed after its tunnel, long before the drain deadline").isFalse();
        drained.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** Waits for a frame described as {@code expected}, skipping others (SETTINGS, its ACK, WINDOW_UPDATE). */
    static void awaitFrame(BlockingQueue<String> frames, String expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        StringBuilder seen = new StringBuilder();
        while (System.nanoTime() < deadline) {
            String f = frames.poll(100, TimeUnit.MILLISECONDS);
            if (expected.equals(f)) {
                return;
            }
            if (f != null) {
                seen.append(f).append("; ");
            }
        }
        throw new AssertionError("no " + expected + " within 10 s; received: " + seen);
    }

    static String readAll(InputStream in) throws Exception {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
}
