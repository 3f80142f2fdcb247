package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two ztunnels as two nodes on loopback addresses, a test CA serving Istio's CreateCertificate, static config:
 * an application on node-a reaches an echo service on node-b through SOCKS5 → HBONE (mTLS + HTTP/2 CONNECT) →
 * the echo pod.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TwoZtunnelsTest {

    static final String CLIENT_IP = "127.0.110.11";
    static final String ECHO_IP = "127.0.120.11";
    static final String PLAIN_IP = "127.0.120.12";
    static final String NODE_B_IP = "127.0.120.1";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static TestCa ca;
    static EchoServer echo;
    static int echoPort;
    static EchoServer nodeEcho;
    static int nodeEchoPort;
    static ServerSocket halfCloseServer;
    static ZtunnelHarness nodeA;
    static ZtunnelHarness nodeB;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "node-token");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        echo = new EchoServer(vertx);
        echoPort = echo.start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        nodeEcho = new EchoServer(vertx);
        nodeEchoPort = nodeEcho.start(NODE_B_IP).toCompletionStage().toCompletableFuture().get();
        halfCloseServer = new ServerSocket();
        halfCloseServer.bind(new InetSocketAddress(PLAIN_IP, 0));
        Path token = dir.resolve("token");
        Files.writeString(token, "node-token\n");
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
                    canonicalName: sleep
                    canonicalRevision: v1
                  - uid: node-b/default/echo-1
                    name: echo-1
                    namespace: default
                    serviceAccount: echo
                    addresses: [%s]
                    node: node-b
                    tunnelProtocol: HBONE
                    canonicalName: echo
                    services: {"default/echo.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %d}]}}
                  - uid: node-b/default/plain-1
                    name: plain-1
                    namespace: default
                    serviceAccount: plain
                    addresses: [%s]
                    node: node-b
                    tunnelProtocol: HBONE
                  - uid: node-b/default/node-echo
                    name: node-echo
                    namespace: default
                    serviceAccount: node-agent
                    addresses: [%s]
                    node: node-b
                    networkMode: HOST_NETWORK
                    services: {"default/node-echo.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %d}]}}
                services:
                  - name: node-echo
                    namespace: default
                    hostname: node-echo.default.svc.cluster.local
                    addresses: [{address: 10.96.0.11}]
                    ports: [{servicePort: 80, targetPort: %d}]
                  - name: echo
                    namespace: default
                    hostname: echo.default.svc.cluster.local
                    addresses: [{address: 10.96.0.10}]
                    ports: [{servicePort: 80, targetPort: %d}]
                """.formatted(CLIENT_IP, ECHO_IP, echoPort, PLAIN_IP, NODE_B_IP, nodeEchoPort, nodeEchoPort, echoPort));
        nodeA = ZtunnelHarness.start(dir, "node-a",
                ZtunnelHarness.localNode("node-a", "127.0.110.1", config.toString(), caPort, token, null), null);
        nodeB = ZtunnelHarness.start(dir, "node-b",
                ZtunnelHarness.localNode("node-b", NODE_B_IP, config.toString(), caPort, token, null), null);
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeA.ready() && nodeB.ready());
    }

    @AfterAll
    static void stop() throws Exception {
        if (nodeA != null) {
            nodeA.close();
        }
        if (nodeB != null) {
            nodeB.close();
        }
        if (halfCloseServer != null) {
            halfCloseServer.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void echoThroughServiceVipCarriesOneMebibyteBothWays() throws Exception {
        byte[] payload = new byte[1 << 20];
        new Random(1).nextBytes(payload);
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, "10.96.0.10", 80)) {
            byte[] back = roundTrip(s, payload);
            assertThat(back).isEqualTo(payload);
        }
        assertThat(echo.lastRemoteHost).isEqualTo("127.0.120.1"); // connects to the pod from the node address
    }

    /**
     * Keepalive is per hop, as in Istio: the socket ztunnel accepted from the application, the HBONE connection
     * between the nodes and the socket to the pod each carry a keepalive timer armed at 180 s (the kernel's own
     * default is 2 hours), read from the kernel with {@code ss}. The application's own socket has none.
     */
    @Test
    void everyHopArmsItsOwnKeepaliveAtIstiosThreeMinutes() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/ss")) || Files.isExecutable(Path.of("/bin/ss")),
                "needs ss (Debian package iproute2) to read the sockets' timers from the kernel");
        byte[] hello = "keep me alive".getBytes(StandardCharsets.UTF_8);
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            assertThat(roundTrip(s, hello)).isEqualTo(hello);
            int appPort = s.getLocalPort();
            // ss shows one timer per socket: until the last delayed ACK, the retransmission timer ("on")
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
                String sockets = ss();
                assertThat(keepaliveSeconds(sockets, nodeA.socks().getPort(), CLIENT_IP + ":" + appPort))
                        .as("node-a's socket accepted from the application").isBetween(170L, 180L);
                assertThat(keepaliveSeconds(sockets, -1, ECHO_IP + ":" + echoPort))
                        .as("node-b's socket to the pod").isBetween(170L, 180L);
                assertThat(keepaliveSeconds(sockets, -1, ECHO_IP + ":15008"))
                        .as("node-a's HBONE connection to node-b").isBetween(170L, 180L);
                assertThat(sockets.lines().map(l -> l.trim().split("\\s+"))
                        .filter(f -> f.length > 3 && f[2].equals(CLIENT_IP + ":" + appPort))
                        .filter(f -> String.join(" ", f).contains("keepalive")))
                        .as("the application's own socket keeps the kernel's default (no keepalive)").isEmpty();
            });
        }
    }

    static String ss() throws Exception {
        Process p = new ProcessBuilder("ss", "-tnoH", "state", "established").redirectErrorStream(true).start();
        // IPv4 sockets of dual-stack listeners show as [::ffff:a.b.c.d]:port
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).replace("[::ffff:", "")
                .replace("]", "");
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        return out;
    }

    /** The keepalive timer, in seconds, of the established socket with local port {@code localPort} (-1: any) and peer {@code peer}. */
    static long keepaliveSeconds(String ss, int localPort, String peer) {
        java.util.regex.Pattern timer = java.util.regex.Pattern.compile(
                "timer:\\(keepalive,(?:(\\d+)min)?(?:(\\d+)(?:\\.\\d+)?sec)?(?:(\\d+)ms)?");
        for (String line : ss.lines().toList()) {
            String[] f = line.trim().split("\\s+"); // Recv-Q Send-Q Local Peer [timer]
            if (f.length < 4 || !f[3].endsWith(peer) || (localPort >= 0 && !f[2].endsWith(":" + localPort))) {
                continue;
            }
            java.util.regex.Matcher m = timer.matcher(line);
            if (m.find()) {
                return (m.group(1) == null ? 0 : Long.parseLong(m.group(1))) * 60
                        + (m.group(2) == null ? 0 : Long.parseLong(m.group(2)));
            }
        }
        throw new AssertionError("no established socket to " + peer + " with a keepalive timer in:\n" + ss);
    }

    @Test
    void echoByServiceHostnameAndByPodIp() throws Exception {
        byte[] hello = "hello mesh".getBytes(StandardCharsets.UTF_8);
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, "echo.default.svc.cluster.local", 80)) {
            assertThat(roundTrip(s, hello)).isEqualTo(hello);
        }
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            assertThat(roundTrip(s, hello)).isEqualTo(hello);
        }
    }

    @Test
    void halfCloseTravelsAsEndStreamAndTheServerCanStillAnswer() throws Exception {
        Thread server = new Thread(() -> {
            try (Socket peer = halfCloseServer.accept()) {
                byte[] got = peer.getInputStream().readAllBytes(); // until the client's FIN
                peer.getOutputStream().write(("got " + got.length).getBytes(StandardCharsets.UTF_8));
            } catch (Exception e) {
                // the assertion below fails
            }
        });
        server.start();
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, PLAIN_IP, halfCloseServer.getLocalPort())) {
            s.getOutputStream().write(new byte[12345]);
            s.shutdownOutput();
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(answer).isEqualTo("got 12345");
        }
        server.join(10_000);
    }

    @Test
    void pipelinedBytesAndFinSentBeforeTheConnectAnswerAllArrive() throws Exception {
        // greeting, CONNECT, data and FIN in one go, before any answer: more data than the early-read bound, so
        // the socket is paused while the tunnel is set up, and the FIN must still end the tunnel's request side
        for (int size : new int[] {5000, 200_000}) {
            Thread server = new Thread(() -> {
                try (Socket peer = halfCloseServer.accept()) {
                    byte[] got = peer.getInputStream().readAllBytes();
                    peer.getOutputStream().write(("got " + got.length).getBytes(StandardCharsets.UTF_8));
                } catch (Exception e) {
                    // the assertion below fails
                }
            });
            server.start();
            try (Socket s = new Socket()) {
                s.setSoTimeout(20_000);
                s.bind(new InetSocketAddress(CLIENT_IP, 0));
                s.connect(nodeA.socks(), 5_000);
                byte[] ip = InetAddress.getByName(PLAIN_IP).getAddress();
                int port = halfCloseServer.getLocalPort();
                ByteArrayOutputStream all = new ByteArrayOutputStream();
                all.write(new byte[] {5, 1, 0, 5, 1, 0, 1});
                all.write(ip);
                all.write(new byte[] {(byte) (port >> 8), (byte) port});
                all.write(new byte[size]);
                Thread writer = new Thread(() -> {
                    try {
                        s.getOutputStream().write(all.toByteArray());
                        s.shutdownOutput();
                    } catch (IOException e) {
                        // the read below fails
                    }
                });
                writer.start();
                byte[] replies = s.getInputStream().readNBytes(2 + 10);
                assertThat(replies[1]).isEqualTo((byte) 0);
                assertThat(replies[3]).isEqualTo((byte) 0);
                String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(answer).isEqualTo("got " + size);
                writer.join(10_000);
            }
            server.join(10_000);
        }
    }

    @Test
    void sequentialConnectionsShareOnePooledHboneConnection() throws Exception {
        byte[] hello = "pooled".getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < 3; i++) {
            try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, "10.96.0.10", 80)) {
                assertThat(roundTrip(s, hello)).isEqualTo(hello);
            }
        }
        assertThat(nodeA.ztunnel.pool().all()).filteredOn(c -> c.key().destination().getAddress()
                .getHostAddress().equals(ECHO_IP)).hasSize(1);
    }

    /**
     * A host-network pod (Istio's HOST_NETWORK: a node agent, an ingress controller) behind a service: reached in
     * plain TCP at its node's address, as nothing captures the host's network; reported as that pod. The node's
     * address dialled directly is the node's, no pod's: it passes through unattributed.
     */
    @Test
    void aHostNetworkPodIsReachedThroughItsServiceInPlainTcp() throws Exception {
        byte[] hello = "hello host network".getBytes(StandardCharsets.UTF_8);
        double before = openedTo("node-echo");
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, "10.96.0.11", 80)) {
            assertThat(roundTrip(s, hello)).isEqualTo(hello);
        }
        assertThat(nodeEcho.lastRemoteHost).as("dialled by node-a, not tunnelled through node-b's ztunnel")
                .isNotEqualTo(NODE_B_IP);
        assertThat(openedTo("node-echo")).isEqualTo(before + 1);
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, NODE_B_IP, nodeEchoPort)) {
            assertThat(roundTrip(s, hello)).isEqualTo(hello);
        }
        assertThat(openedTo("node-echo")).as("the node's address names no pod")
                .isEqualTo(before + 1);
        assertThat(nodeB.ztunnel.identities().all().keySet()).extracting(Object::toString)
                .as("its traffic never passes through ztunnel: no certificate for it")
                .doesNotContain("spiffe://cluster.local/ns/default/sa/node-agent");
    }

    @Test
    void unknownSourceIsRefusedWithAReason() {
        assertThatThrownBy(() -> Socks5Client.connect(nodeA.socks(), "127.0.110.99", "10.96.0.10", 80))
                .isInstanceOf(Socks5Client.Refused.class);
        assertThat(nodeA.ztunnel.telemetry().rejections(true, "unknown_source")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void certificatesWereIssuedPerLocalIdentityWithImpersonation() {
        assertThat(nodeA.ztunnel.identities().all().keySet()).extracting(Object::toString)
                .containsExactly("spiffe://cluster.local/ns/default/sa/sleep");
        assertThat(ca.impersonated).contains("spiffe://cluster.local/ns/default/sa/sleep",
                "spiffe://cluster.local/ns/default/sa/echo");
    }

    static double openedTo(String workload) throws Exception {
        return nodeA.metricSum("istio_tcp_connections_opened_total", "reporter=\"source\"",
                "destination_workload=\"" + workload + "\"", "connection_security_policy=\"unknown\"");
    }

    static byte[] roundTrip(Socket s, byte[] payload) throws Exception {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        Thread writer = new Thread(() -> {
            try {
                out.write(payload);
                out.flush();
            } catch (Exception e) {
                // reader sees the short read
            }
        });
        writer.start();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        while (got.size() < payload.length) {
            int n = in.read(buf);
            if (n < 0) {
                break;
            }
            got.write(buf, 0, n);
        }
        writer.join(10_000);
        return got.toByteArray();
    }
}
