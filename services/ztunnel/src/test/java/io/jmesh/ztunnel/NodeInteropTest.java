package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.tls.Pem;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop with an independent HBONE implementation: Node.js's own {@code http2} and {@code tls} modules
 * ({@code src/test/node/hbone-peer.mjs}) as a client of ztunnel's inbound and as the server behind ztunnel's
 * outbound.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class NodeInteropTest {

    static final String NODE_ADDR = "127.0.70.1";
    static final String CLIENT_IP = "127.0.70.11";
    static final String ECHO_IP = "127.0.70.12";
    static final String PEER_IP = "127.0.71.11";
    static final Path SCRIPT = Path.of("src/test/node/hbone-peer.mjs").toAbsolutePath();

    @TempDir
    static Path dir;
    static Vertx vertx;
    static TestCa ca;
    static int echoPort;
    static int peerEchoPort;
    static ZtunnelHarness node;
    static Process nodeServer;
    static final List<String> nodeServerLines = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        peerEchoPort = new EchoServer(vertx).start(PEER_IP).toCompletionStage().toCompletableFuture().get();
        Files.writeString(dir.resolve("ca.pem"), ca.rootPem());
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, """
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-e, tunnelProtocol: HBONE}
                  - {uid: echo, name: echo, namespace: default, serviceAccount: echo, addresses: [%s], node: node-e,
                     tunnelProtocol: HBONE}
                  - {uid: peer, name: peer, namespace: default, serviceAccount: nodepeer, addresses: [%s],
                     node: node-n, tunnelProtocol: HBONE}
                """.formatted(CLIENT_IP, ECHO_IP, PEER_IP));
        node = ZtunnelHarness.start(dir, "node-e", ZtunnelHarness.localNode("node-e", NODE_ADDR, mesh.toString(),
                caPort, token, null), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);

        writeLeaf("nodepeer", "spiffe://cluster.local/ns/default/sa/nodepeer");
        nodeServer = new ProcessBuilder("node", SCRIPT.toString(), "server", PEER_IP, "15008",
                dir.resolve("nodepeer.crt").toString(), dir.resolve("nodepeer.key").toString(),
                dir.resolve("ca.pem").toString()).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(nodeServer.getInputStream(),
                StandardCharsets.UTF_8));
        assertThat(out.readLine()).contains("listening");
        // what the server prints later (the SETTINGS it is sent), kept until the process ends
        Thread drain = new Thread(() -> out.lines().forEach(nodeServerLines::add), "node-server-out");
        drain.setDaemon(true);
        drain.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (nodeServer != null) {
            nodeServer.destroy();
            nodeServer.waitFor(5, TimeUnit.SECONDS);
        }
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static void writeLeaf(String name, String uri) throws Exception {
        var leaf = ca.leaf(Duration.ofHours(1), uri);
        Files.writeString(dir.resolve(name + ".crt"), Pem.encode(leaf.cert()));
        Files.writeString(dir.resolve(name + ".key"), Pem.encodePrivateKey(leaf.keys().getPrivate()));
    }

    @Test
    void nodeHttp2ClientTunnelsThroughZtunnelInbound() throws Exception {
        writeLeaf("nodeclient", "spiffe://cluster.local/ns/default/sa/client");
        Process p = new ProcessBuilder("node", SCRIPT.toString(), "client", ECHO_IP, "15008",
                ECHO_IP + ":" + echoPort, dir.resolve("nodeclient.crt").toString(),
                dir.resolve("nodeclient.key").toString(), dir.resolve("ca.pem").toString(),
                "spiffe://cluster.local/ns/default/sa/echo", "hello from node").redirectErrorStream(true).start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        JsonObject answer = new JsonObject(out.substring(out.lastIndexOf('\n') + 1));
        assertThat(answer.getInteger("status")).as(out).isEqualTo(200);
        assertThat(answer.getString("body")).isEqualTo("hello from node");
        assertThat(answer.getJsonArray("peer").getList()).isEqualTo(List.of("spiffe://cluster.local/ns/default/sa/echo"));
    }

    @Test
    void nodeHttp2ClientGetsIstioStatusesForBadRequests() throws Exception {
        writeLeaf("nodeclient2", "spiffe://cluster.local/ns/default/sa/client");
        Process p = new ProcessBuilder("node", SCRIPT.toString(), "client", ECHO_IP, "15008", "10.9.9.9:80",
                dir.resolve("nodeclient2.crt").toString(), dir.resolve("nodeclient2.key").toString(),
                dir.resolve("ca.pem").toString(), "spiffe://cluster.local/ns/default/sa/echo", "x")
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        // an authority that is not the workload dialled (nor one it is the waypoint of): Istio's IPMismatch
        assertThat(new JsonObject(out.substring(out.lastIndexOf('\n') + 1)).getInteger("status")).as(out)
                .isEqualTo(400);
    }

    /**
     * Two tunnels of a Node.js client on one HBONE connection, a bulk transfer beside requests: ztunnel announces the
     * shared stream window while both send and the full one once the bulk tunnel has been alone for a while
     * (SharedStreamWindow); nghttp2 follows both mid-stream and every byte comes back intact.
     */
    @Test
    void aNodeHttp2ClientFollowsTheWindowAnnouncedWhileItsTunnelsShareAConnection() throws Exception {
        writeLeaf("nodeclient3", "spiffe://cluster.local/ns/default/sa/client");
        int bulk = 8 << 20;
        int requests = 200;
        Process p = new ProcessBuilder("node", SCRIPT.toString(), "shared", ECHO_IP, "15008",
                ECHO_IP + ":" + echoPort, dir.resolve("nodeclient3.crt").toString(),
                dir.resolve("nodeclient3.key").toString(), dir.resolve("ca.pem").toString(),
                "spiffe://cluster.local/ns/default/sa/echo", String.valueOf(bulk), String.valueOf(requests))
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        JsonObject answer = new JsonObject(out.substring(out.lastIndexOf('\n') + 1));
        assertThat(answer.getInteger("bulkEchoed")).as(out).isEqualTo(bulk + (1 << 20));
        assertThat(answer.getBoolean("bulkIntact")).as(out).isTrue();
        assertThat(answer.getInteger("requestsEchoed")).as(out).isEqualTo(requests * 1024);
        List<Object> windows = answer.getJsonArray("windows").getList();
        // the shared size is 256 KiB or more, by the lowest round trip the kernel has measured so far
        assertThat(windows).as("the first SETTINGS, the shared size while both sent, the full size once alone")
                .startsWith(4 << 20).endsWith(4 << 20)
                .anySatisfy(w -> assertThat((Integer) w).isBetween(256 << 10, (4 << 20) - 1));
    }

    /**
     * The other direction: two tunnels of ztunnel's pool on one HBONE connection to a Node.js http2 server, a bulk
     * echo beside requests. The pool's end announces the shared window to nghttp2's server, which follows it; every
     * byte comes back intact.
     */
    @Test
    void aNodeHttp2ServerFollowsTheWindowThePoolAnnouncesWhileItsTunnelsShareAConnection() throws Exception {
        int bulk = 8 << 20;
        byte[] sent = new byte[bulk];
        for (int i = 0; i < bulk; i++) {
            sent[i] = (byte) (i % 251);
        }
        try (Socket big = Socks5Client.connect(node.socks(), CLIENT_IP, PEER_IP, peerEchoPort);
                Socket small = Socks5Client.connect(node.socks(), CLIENT_IP, PEER_IP, peerEchoPort)) {
            CompletableFuture<byte[]> echoed = CompletableFuture.supplyAsync(() -> readAll(big));
            CompletableFuture<Integer> requests = CompletableFuture.supplyAsync(() -> requestLoop(small, 200));
            for (int at = 0; at < bulk; at += 65_536) {
                big.getOutputStream().write(sent, at, Math.min(65_536, bulk - at));
            }
            big.shutdownOutput();
            assertThat(requests.get(60, TimeUnit.SECONDS)).isEqualTo(200 * 1024);
            assertThat(echoed.get(60, TimeUnit.SECONDS)).isEqualTo(sent);
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(nodeServerLines)
                .as("the server was sent a stream window below the 4 MiB of the pool's first SETTINGS")
                .anySatisfy(line -> assertThat(new JsonObject(line).getInteger("remoteWindow"))
                        .isBetween(256 << 10, (4 << 20) - 1)));
    }

    static byte[] readAll(Socket s) {
        try {
            return s.getInputStream().readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Sends {@code n} 1 KiB requests on {@code s}, each after the last one's echo; returns the bytes echoed. */
    static int requestLoop(Socket s, int n) {
        try {
            byte[] request = new byte[1024];
            int echoed = 0;
            for (int i = 0; i < n; i++) {
                s.getOutputStream().write(request);
                echoed += s.getInputStream().readNBytes(1024).length;
            }
            s.shutdownOutput();
            return echoed;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void ztunnelOutboundTunnelsToANodeHttp2Server() throws Exception {
        byte[] payload = "through a node.js hbone server".getBytes(StandardCharsets.UTF_8);
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, PEER_IP, peerEchoPort)) {
            s.getOutputStream().write(payload);
            s.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).isEqualTo(payload);
        }
    }
}
