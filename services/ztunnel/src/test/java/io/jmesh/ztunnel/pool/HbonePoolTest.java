package io.jmesh.ztunnel.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The outbound pool's invariants on a real ztunnel (a fresh one per test, so every test starts with an empty
 * pool): one shared dial for concurrent requests, a new connection at the stream cap (2 here), idle connections
 * closed, connections to a workload whose uid changed dropped.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HbonePoolTest {

    static final String CLIENT_IP = "127.0.80.11";
    static final String ECHO_IP = "127.0.80.12";

    @TempDir
    Path dir;
    Vertx vertx;
    ZtunnelHarness node;
    int echoPort;
    final ExecutorService threads = Executors.newCachedThreadPool();

    @BeforeEach
    void start(org.junit.jupiter.api.TestInfo test) throws Exception {
        boolean perLoop = test.getDisplayName().contains("PerEventLoop");
        vertx = Vertx.vertx();
        TestCa ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, """
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-p, tunnelProtocol: HBONE}
                  - {uid: echo-1, name: echo, namespace: default, serviceAccount: echo, addresses: [%s],
                     node: node-p, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, ECHO_IP));
        node = ZtunnelHarness.start(dir, "node-p", ZtunnelHarness.localNode("node-p", "127.0.80.1", mesh.toString(),
                caPort, token, "pool: {maxStreamsPerConnection: 2, idleTimeout: 1s, perEventLoop: " + perLoop + "}").replace(
                "pool: {idleTimeout: 5m}\n", ""), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
    }

    @AfterEach
    void stop() throws Exception {
        threads.shutdownNow();
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    long echoSeries() {
        return node.running.context().metrics().scrape().stream()
                .filter(m -> m.getMetadata().getPrometheusName().startsWith("istio_tcp_connections_opened"))
                .flatMap(m -> m.getDataPoints().stream())
                .filter(d -> "echo".equals(d.getLabels().get("destination_workload"))).count();
    }

    /** The sum of a counter's series whose destination is the echo workload. */
    double echoTotal(String counter) {
        return node.running.context().metrics().scrape().stream()
                .filter(m -> m.getMetadata().getPrometheusName().startsWith(counter))
                .flatMap(m -> m.getDataPoints().stream())
                .filter(d -> "echo".equals(d.getLabels().get("destination_workload")))
                .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d)
                        .getValue()).sum();
    }

    HbonePool pool() {
        return node.ztunnel.pool();
    }

    Socket open() throws Exception {
        Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ECHO_IP, echoPort);
        s.getOutputStream().write(7);
        assertThat(s.getInputStream().read()).isEqualTo(7);
        return s;
    }

    List<Socket> openConcurrently(int n) throws Exception {
        List<Future<Socket>> fs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            fs.add(threads.submit((Callable<Socket>) this::open));
        }
        List<Socket> out = new ArrayList<>();
        for (Future<Socket> f : fs) {
            out.add(f.get(20, TimeUnit.SECONDS));
        }
        return out;
    }

    @Test
    void concurrentRequestsForANewKeyShareOneDial() throws Exception {
        List<Socket> sockets = openConcurrently(2);
        assertThat(pool().dialled()).isEqualTo(1);
        assertThat(pool().size()).isEqualTo(1);
        for (Socket s : sockets) {
            s.close();
        }
    }

    @Test
    void theStreamCapOpensAnotherConnection() throws Exception {
        List<Socket> sockets = openConcurrently(5);
        assertThat(pool().size()).isGreaterThanOrEqualTo(3); // 2 streams each
        assertThat(pool().all()).allSatisfy(c -> assertThat(c.streams()).isLessThanOrEqualTo(2));
        for (Socket s : sockets) {
            s.close();
        }
    }

    @Test
    void idleConnectionsAreClosed() throws Exception {
        try (Socket s = open()) {
            assertThat(pool().size()).isEqualTo(1);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> pool().openConnections() == 0);
    }

    @Test
    void withPerEventLoopPoolingEachThreadKeepsItsOwnConnection() throws Exception {
        for (int i = 0; i < 8; i++) {
            try (Socket s = open()) {
                // each tunnel's pooled connection lives on the event loop its SOCKS5 socket was accepted on
            }
        }
        List<HboneConnection> all = pool().all();
        assertThat(all).isNotEmpty();
        assertThat(all.stream().map(c -> c.channel().eventLoop()).distinct().count()).isEqualTo(all.size());
        assertThat(pool().dialled()).isEqualTo(all.size());
    }

    @Test
    void drainStopsAcceptingAndWaitsForOpenTunnels() throws Exception {
        Socket s = open();
        var drained = node.ztunnel.drain();
        // new connections are refused at once
        await().untilAsserted(() -> org.assertj.core.api.Assertions.assertThatThrownBy(this::open)
                .isInstanceOf(java.io.IOException.class));
        // the open tunnel still works, and the drain waits for it
        s.getOutputStream().write(9);
        assertThat(s.getInputStream().read()).isEqualTo(9);
        assertThat(drained.isComplete()).isFalse();
        s.close();
        await().atMost(Duration.ofSeconds(10)).until(drained::isComplete);
    }

    /**
     * A connection the listener accepted before the drain is served, tunnel and all: closing the listeners is what
     * stops new ones (when a new ztunnel takes over a pod, its listeners take them), so one caught in flight by the
     * drain must not be failed. Its connection is retired at once and closes with its tunnel, so the drain ends. (The
     * outbound half of a drain: the destination is this same ztunnel, whose 15008 must stay.)
     */
    @Test
    void aConnectionAcceptedBeforeTheDrainStillGetsItsTunnel() throws Exception {
        try (Socket s = new Socket()) {
            s.setSoTimeout(15_000);
            s.bind(new java.net.InetSocketAddress(CLIENT_IP, 0));
            s.connect(node.socks(), 5_000); // accepted; its CONNECT comes only after the drain began
            node.ztunnel.outbound().stopAccepting();
            pool().drain();
            // the listener closes on its event loop: wait for it with bare connects, which start no tunnel
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThatThrownBy(() -> {
                try (Socket probe = new Socket()) {
                    probe.connect(node.socks(), 1_000);
                }
            }).isInstanceOf(java.io.IOException.class));
            java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
            s.getOutputStream().write(new byte[] {5, 1, 0});
            byte[] method = new byte[2];
            in.readFully(method);
            byte[] ip = InetAddress.getByName(ECHO_IP).getAddress();
            s.getOutputStream().write(new byte[] {5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], (byte) (echoPort >> 8),
                    (byte) echoPort});
            byte[] reply = new byte[10];
            in.readFully(reply);
            assertThat(reply[1]).as("SOCKS5 reply code").isZero();
            s.getOutputStream().write(5);
            assertThat(in.read()).isEqualTo(5);
            assertThat(pool().size()).as("pooled").isZero();
            assertThat(pool().openConnections()).as("retired, carrying the tunnel").isEqualTo(1);
            s.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> pool().openConnections() == 0);
        }
    }

    @Test
    void aDestinationWhoseUidChangedIsDropped() throws Exception {
        try (Socket s = open()) {
            assertThat(pool().size()).isEqualTo(1);
        }
        // the pod was replaced: same IP, new uid (Istio's "IP reuse" case)
        Workload replaced = Workload.newBuilder().setUid("echo-2").setName("echo").setNamespace("default")
                .setServiceAccount("echo").setNode("node-p").setTunnelProtocol(TunnelProtocol.HBONE)
                .addAddresses(ByteString.copyFrom(InetAddress.getByName(ECHO_IP).getAddress())).build();
        node.ztunnel.store().apply(Map.of("echo-2", Address.newBuilder().setWorkload(replaced).build()),
                List.of("echo-1"));
        await().until(() -> pool().openConnections() == 0);
        try (Socket s = open()) {
            assertThat(pool().dialled()).isEqualTo(2);
        }
        // and when the workload is gone for good its metric series go too: once ztunnel has seen that connection
        // close (a series with a connection still open stays, so that its last bytes are not lost)
        await().until(() -> echoTotal("istio_tcp_connections_closed") == echoTotal("istio_tcp_connections_opened"));
        assertThat(echoSeries()).isPositive();
        node.ztunnel.store().apply(Map.of(), List.of("echo-2"));
        assertThat(echoSeries()).isZero();
    }

    /**
     * Its open tunnels go too: they lead to a pod that is gone, and a graceful close would wait for them to end
     * (Netty's HTTP/2 close waits for every open stream). The application's socket is reset.
     */
    @Test
    void aDestinationWhoseUidChangedIsDroppedWithItsOpenTunnels() throws Exception {
        try (Socket s = open()) {
            s.setSoTimeout(15_000); // far beyond the drop: a read that times out is a tunnel left open
            Workload replaced = Workload.newBuilder().setUid("echo-2").setName("echo").setNamespace("default")
                    .setServiceAccount("echo").setNode("node-p").setTunnelProtocol(TunnelProtocol.HBONE)
                    .addAddresses(ByteString.copyFrom(InetAddress.getByName(ECHO_IP).getAddress())).build();
            node.ztunnel.store().apply(Map.of("echo-2", Address.newBuilder().setWorkload(replaced).build()),
                    List.of("echo-1"));
            await().until(() -> pool().openConnections() == 0);
            assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
        }
    }

    /**
     * The usual end of a pod: its ztunnel drains first (GOAWAY: the connection is retired, its tunnel goes on), then
     * the pod is replaced. The retired connection is dropped with its tunnel as a pooled one would be, instead of
     * waiting on a pod that is gone.
     */
    @Test
    void aRetiredConnectionToADestinationWhoseUidChangedIsDroppedToo() throws Exception {
        try (Socket s = open()) {
            s.setSoTimeout(15_000); // far beyond the drop: a read that times out is a tunnel left open
            node.ztunnel.inbound().stopAccepting(); // GOAWAY from the destination's side
            await().until(() -> pool().size() == 0);
            assertThat(pool().openConnections()).as("retired, still carrying the tunnel").isEqualTo(1);
            Workload replaced = Workload.newBuilder().setUid("echo-2").setName("echo").setNamespace("default")
                    .setServiceAccount("echo").setNode("node-p").setTunnelProtocol(TunnelProtocol.HBONE)
                    .addAddresses(ByteString.copyFrom(InetAddress.getByName(ECHO_IP).getAddress())).build();
            node.ztunnel.store().apply(Map.of("echo-2", Address.newBuilder().setWorkload(replaced).build()),
                    List.of("echo-1"));
            await().atMost(Duration.ofSeconds(10)).until(() -> pool().openConnections() == 0);
            assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
        }
    }

    /** Closing the pool (after the drain's deadline, or a pod's proxy stopping) closes busy connections at once. */
    @Test
    void closingThePoolClosesConnectionsWithOpenTunnels() throws Exception {
        try (Socket s = open()) {
            s.setSoTimeout(15_000);
            pool().close();
            await().until(() -> pool().openConnections() == 0);
            assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
        }
    }
}
