package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.tls.Pem;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Istio's multi-network path: a service endpoint on another network is reached through that network's east-west
 * gateway with double HBONE. Node A (network net-a) and node B (net-b) are two ztunnels; the gateway is an
 * independent HBONE server written with Node.js's http2 module, which routes the outer CONNECT's
 * {@code hostname:port} to the endpoint's HBONE address and pipes the bytes without reading them. The inner mTLS
 * and CONNECT run end to end between the two ztunnels, so the gateway never sees the application's bytes.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class DoubleHboneTest {

    static final String CLIENT_IP = "127.0.80.11";
    static final String ECHO_IP = "127.0.81.12";
    static final String GATEWAY_IP = "127.0.81.100";
    static final String WAYPOINT_IP = "127.0.81.20";
    static final String IMPOSTOR_IP = "127.0.81.21";
    static final String FRAGILE_WAYPOINT_IP = "127.0.81.22";
    static final String FRAGILE = "fragile.default.svc.cluster.local";
    static final String GUARDED = "guarded.default.svc.cluster.local";
    static final String MISGUARDED = "misguarded.default.svc.cluster.local";
    static final String HOST = "echo.default.svc.cluster.local";
    static final String MARKER = "plaintext-marker-3f1c";
    static final Path SCRIPT = Path.of("src/test/node/hbone-peer.mjs").toAbsolutePath();

    @TempDir
    static Path dir;
    static Vertx vertx;
    static LocalNodeSetup setup;
    static ZtunnelHarness nodeA;
    static ZtunnelHarness nodeB;
    static final List<Process> peers = new CopyOnWriteArrayList<>();
    static final List<JsonObject> gatewayLog = new CopyOnWriteArrayList<>();
    static final List<JsonObject> waypointLog = new CopyOnWriteArrayList<>();
    static Process fragileWaypoint;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        setup = LocalNodeSetup.start(vertx, dir);
        int echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%1$s],
                     node: node-a, network: net-a, tunnelProtocol: HBONE, canonicalName: client}
                  - uid: echo
                    name: echo
                    namespace: default
                    serviceAccount: echo
                    addresses: [%2$s]
                    node: node-b
                    network: net-b
                    tunnelProtocol: HBONE
                    canonicalName: echo
                    networkGateway: {address: {network: net-b, address: %3$s}, hboneMtlsPort: 15008}
                    services: {"default/%4$s": {ports: [{servicePort: 80, targetPort: %5$d}]},
                               "default/guarded.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %5$d}]}}
                  # the waypoint of guarded: on net-b, so node A reaches it through net-b's gateway
                  - uid: waypoint
                    name: waypoint
                    namespace: default
                    serviceAccount: waypoint
                    addresses: [%6$s]
                    node: node-w
                    network: net-b
                    tunnelProtocol: HBONE
                    networkGateway: {address: {network: net-b, address: %3$s}, hboneMtlsPort: 15008}
                    services: {"default/waypoint.default.svc.cluster.local": {ports: [{servicePort: 15008}]}}
                  # misguarded's waypoint, whose address answers with another identity
                  - uid: waypoint2
                    name: waypoint2
                    namespace: default
                    serviceAccount: waypoint2
                    addresses: [%7$s]
                    node: node-w
                    network: net-b
                    tunnelProtocol: HBONE
                    networkGateway: {address: {network: net-b, address: %3$s}, hboneMtlsPort: 15008}
                  - {uid: waypoint3, name: waypoint3, namespace: default, serviceAccount: fragile-waypoint,
                     addresses: [%8$s], node: node-w, network: net-b, tunnelProtocol: HBONE,
                     networkGateway: {address: {network: net-b, address: %3$s}, hboneMtlsPort: 15008}}
                  - {uid: ewgw, name: eastwest, namespace: istio-system, serviceAccount: istio-eastwestgateway,
                     addresses: [%3$s], node: node-gw, network: net-b, tunnelProtocol: HBONE}
                  # net-a reuses the echo's address: a different pod, which the index keeps apart by network
                  - {uid: decoy, name: decoy, namespace: default, serviceAccount: decoy, addresses: [%2$s],
                     node: node-x, network: net-a, tunnelProtocol: HBONE}
                  - uid: unrouted
                    name: unrouted
                    namespace: default
                    serviceAccount: unrouted
                    addresses: [127.0.81.13]
                    node: node-b
                    network: net-b
                    tunnelProtocol: HBONE
                    networkGateway: {address: {network: net-b, address: %3$s}, hboneMtlsPort: 15008}
                    services: {"default/unrouted.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 9}]}}
                  - uid: lonely
                    name: lonely
                    namespace: default
                    serviceAccount: lonely
                    addresses: [127.0.82.12]
                    node: node-c
                    network: net-c
                    tunnelProtocol: HBONE
                    services: {"default/lonely.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}
                services:
                  - {name: echo, namespace: default, hostname: %4$s, addresses: [{address: 10.96.80.1}],
                     ports: [{servicePort: 80, targetPort: %5$d}]}
                  - {name: unrouted, namespace: default, hostname: unrouted.default.svc.cluster.local,
                     addresses: [{address: 10.96.80.3}], ports: [{servicePort: 80, targetPort: 9}]}
                  - {name: lonely, namespace: default, hostname: lonely.default.svc.cluster.local,
                     addresses: [{address: 10.96.80.2}], ports: [{servicePort: 80, targetPort: 8080}]}
                  - {name: guarded, namespace: default, hostname: guarded.default.svc.cluster.local,
                     addresses: [{address: 10.96.80.4}], ports: [{servicePort: 80, targetPort: %5$d}],
                     waypoint: {hostname: {namespace: default, hostname: waypoint.default.svc.cluster.local},
                                hboneMtlsPort: 15008}}
                  - {name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local,
                     addresses: [{address: 10.96.80.5}], ports: [{servicePort: 15008}]}
                  - {name: misguarded, namespace: default, hostname: misguarded.default.svc.cluster.local,
                     addresses: [{address: 10.96.80.6}], ports: [{servicePort: 80}],
                     waypoint: {address: {network: net-b, address: %7$s}, hboneMtlsPort: 15008}}
                  - {name: fragile, namespace: default, hostname: fragile.default.svc.cluster.local,
                     addresses: [{address: 10.96.80.7}], ports: [{servicePort: 80}],
                     waypoint: {address: {network: net-b, address: %8$s}, hboneMtlsPort: 15008}}
                """.formatted(CLIENT_IP, ECHO_IP, GATEWAY_IP, HOST, echoPort, WAYPOINT_IP, IMPOSTOR_IP,
                FRAGILE_WAYPOINT_IP));
        nodeA = ZtunnelHarness.start(dir, "node-a", onNetwork(setup.localNode("node-a", "127.0.80.1", mesh, null),
                "127.0.80.1", "net-a"), null);
        nodeB = ZtunnelHarness.start(dir, "node-b", onNetwork(setup.localNode("node-b", "127.0.81.1", mesh, null),
                "127.0.81.1", "net-b"), null);
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeA.ready() && nodeB.ready());

        Files.writeString(dir.resolve("ca.pem"), setup.ca().rootPem());
        // the gateway routes by the outer authority: a service's traffic to its endpoint's ztunnel, or to the
        // service's waypoint when it has one (as istiod programs an east-west gateway)
        startPeer("gateway", GATEWAY_IP, "ns/istio-system/sa/istio-eastwestgateway", new JsonObject()
                .put(HOST + ":80", ECHO_IP + ":15008")
                .put(GUARDED + ":80", WAYPOINT_IP + ":15008")
                .put(MISGUARDED + ":80", IMPOSTOR_IP + ":15008")
                .put(FRAGILE + ":80", FRAGILE_WAYPOINT_IP + ":15008"), gatewayLog);
        // the waypoint terminates the inner tunnel and, as an L7 proxy would, sends the bytes on to the service
        startPeer("waypoint", WAYPOINT_IP, "ns/default/sa/waypoint",
                new JsonObject().put(GUARDED + ":80", ECHO_IP + ":" + echoPort), waypointLog);
        startPeer("impostor", IMPOSTOR_IP, "ns/default/sa/not-the-waypoint",
                new JsonObject().put(MISGUARDED + ":80", ECHO_IP + ":" + echoPort), new CopyOnWriteArrayList<>());
        fragileWaypoint = startPeer("fragile", FRAGILE_WAYPOINT_IP, "ns/default/sa/fragile-waypoint",
                new JsonObject().put(FRAGILE + ":80", ECHO_IP + ":" + echoPort), new CopyOnWriteArrayList<>());
    }

    /** A Node.js HBONE server in the script's gateway mode: routes by authority, logs each stream to {@code log}. */
    static Process startPeer(String name, String ip, String identity, JsonObject routes, List<JsonObject> log)
            throws Exception {
        var leaf = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/" + identity);
        Files.writeString(dir.resolve(name + ".crt"), Pem.encode(leaf.cert()));
        Files.writeString(dir.resolve(name + ".key"), Pem.encodePrivateKey(leaf.keys().getPrivate()));
        Process p = new ProcessBuilder("node", SCRIPT.toString(), "gateway", ip, "15008",
                dir.resolve(name + ".crt").toString(), dir.resolve(name + ".key").toString(),
                dir.resolve("ca.pem").toString(), routes.encode(), MARKER)
                .redirectErrorStream(true).start();
        peers.add(p);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String first = out.readLine();
        assertThat(first).as(name + " did not start").contains("listening");
        Thread reader = new Thread(() -> {
            try {
                for (String line; (line = out.readLine()) != null; ) {
                    log.add(new JsonObject(line));
                }
            } catch (Exception e) {
                // the peer stopped
            }
        }, name + "-log");
        reader.setDaemon(true);
        reader.start();
        return p;
    }

    static String onNetwork(String config, String address, String network) {
        String node = "address: " + address + "}";
        assertThat(config).contains(node);
        return config.replace(node, "address: " + address + ", network: " + network + "}");
    }

    @AfterAll
    static void stop() throws Exception {
        for (Process p : peers) {
            p.destroy();
            p.waitFor(5, TimeUnit.SECONDS);
        }
        nodeA.close();
        nodeB.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void anEndpointOnAnotherNetworkIsReachedThroughItsGatewayWhichSeesOnlyCiphertext() throws Exception {
        byte[] payload = ("hello across networks " + MARKER).getBytes(StandardCharsets.UTF_8);
        int logged = gatewayLog.size();
        double closedB = nodeB.metricSum("istio_tcp_connections_closed_total", "source_workload=\"client\"");
        double closedA = nodeA.metricSum("istio_tcp_connections_closed_total", "destination_workload=\"echo\"");
        for (String host : List.of(HOST, "10.96.80.1")) { // by hostname and by VIP
            try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, host, 80)) {
                s.setSoTimeout(20_000);
                s.getOutputStream().write(payload);
                s.shutdownOutput();
                assertThat(s.getInputStream().readAllBytes()).isEqualTo(payload);
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> gatewayLog.subList(logged, gatewayLog.size()).stream()
                .filter(l -> (HOST + ":80").equals(l.getString("closed"))).count() == 2);
        for (JsonObject l : gatewayLog.subList(logged, gatewayLog.size())) {
            if (!(HOST + ":80").equals(l.getString("authority", l.getString("closed")))) {
                continue; // another test's stream
            }
            if (l.containsKey("authority")) {
                // the outer CONNECT: the service's hostname and port, from the client's own identity
                assertThat(l.getString("authority")).isEqualTo(HOST + ":80");
                assertThat(l.getJsonArray("peer").getList()).containsExactly("spiffe://cluster.local/ns/default/sa/client");
                assertThat(l.getValue("forwardedNetwork")).as("only the inner CONNECT says the network").isNull();
            } else {
                assertThat(l.getLong("bytesUp")).isGreaterThan((long) payload.length); // TLS records, not just data
                assertThat(l.getBoolean("sawMarker")).as("the gateway saw the application's bytes").isFalse();
                // ended like a TCP connection, END_STREAM both ways: servers count resets (nghttp2 drops a
                // connection whose resets outrun 33/s after a burst of 1,000, taking every tunnel on it along)
                assertThat(l.getInteger("rstCode")).as("the outer stream was reset").isZero();
            }
        }
        // node B learnt the source from the inner tunnel: the verified identity, and labels from its baggage
        await().atMost(Duration.ofSeconds(10)).until(() -> nodeB.metricSum("istio_tcp_connections_closed_total",
                "reporter=\"destination\"", "source_workload=\"client\"", "source_canonical_service=\"client\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/client\"",
                "destination_workload=\"echo\"", "connection_security_policy=\"mutual_tls\"") == closedB + 2);
        // node A's view: the destination workload and the identity it proved in the inner handshake
        assertThat(nodeA.metricSum("istio_tcp_connections_closed_total", "reporter=\"source\"",
                "destination_workload=\"echo\"", "destination_principal=\"spiffe://cluster.local/ns/default/sa/echo\"",
                "destination_service=\"" + HOST + "\"")).isEqualTo(closedA + 2);
    }

    @Test
    void aServicesWaypointOnAnotherNetworkIsReachedThroughTheGatewayAndProvesItsIdentity() throws Exception {
        byte[] payload = ("via the far waypoint " + MARKER).getBytes(StandardCharsets.UTF_8);
        int gatewayLogged = gatewayLog.size();
        int waypointLogged = waypointLog.size();
        double closedA = nodeA.metricSum("istio_tcp_connections_closed_total", "destination_workload=\"waypoint\"");
        for (String host : List.of(GUARDED, "10.96.80.4")) { // by hostname and by VIP
            try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, host, 80)) {
                s.setSoTimeout(20_000);
                s.getOutputStream().write(payload);
                s.shutdownOutput();
                assertThat(s.getInputStream().readAllBytes()).isEqualTo(payload);
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> waypointLog.subList(waypointLogged, waypointLog.size())
                .stream().filter(l -> l.containsKey("closed")).count() == 2
                && gatewayLog.subList(gatewayLogged, gatewayLog.size()).stream()
                        .filter(l -> (GUARDED + ":80").equals(l.getString("closed"))).count() == 2);
        // the waypoint terminated the inner tunnel: the service's authority, the client's own identity, and the
        // network it came from (an L7 proxy reads the bytes: that is what it is for)
        for (JsonObject l : waypointLog.subList(waypointLogged, waypointLog.size())) {
            if (l.containsKey("authority")) {
                assertThat(l.getString("authority")).isEqualTo(GUARDED + ":80");
                assertThat(l.getJsonArray("peer").getList()).containsExactly("spiffe://cluster.local/ns/default/sa/client");
                assertThat(l.getString("forwardedNetwork")).isEqualTo("net-a");
            } else {
                assertThat(l.getBoolean("sawMarker")).isTrue();
            }
        }
        // the gateway only forwarded ciphertext
        for (JsonObject l : gatewayLog.subList(gatewayLogged, gatewayLog.size())) {
            if ((GUARDED + ":80").equals(l.getString("closed"))) {
                assertThat(l.getBoolean("sawMarker")).as("the gateway saw the application's bytes").isFalse();
            } else if (l.containsKey("authority")) {
                assertThat(l.getValue("forwardedNetwork")).isNull();
            }
        }
        assertThat(nodeA.metricSum("istio_tcp_connections_closed_total", "reporter=\"source\"",
                "destination_workload=\"waypoint\"", "destination_principal=\"spiffe://cluster.local/ns/default/sa/waypoint\"",
                "destination_service=\"" + GUARDED + "\"")).isEqualTo(closedA + 2);
    }

    @Test
    void aTunnelWhoseFarEndGoesAwayEndsForTheClientToo() throws Exception {
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, FRAGILE, 80)) {
            s.setSoTimeout(15_000);
            s.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
            assertThat(new String(s.getInputStream().readNBytes(4), StandardCharsets.UTF_8)).isEqualTo("ping");
            // the waypoint dies mid-tunnel: the gateway ends (or resets) the outer stream, which is the inner
            // connection's transport; the client must see its connection end, not wait on a tunnel with no far side
            fragileWaypoint.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            int next;
            try {
                next = s.getInputStream().read();
            } catch (java.net.SocketException e) {
                next = -1; // reset: ended as well
            }
            assertThat(next).isEqualTo(-1);
        }
    }

    /**
     * A CRL that lists the far workload's certificate closes the live double-HBONE tunnel to it, as it closes pooled
     * connections: the inner connection is the one that authenticated the revoked peer (the gateway's outer one did
     * not). Node A's bundle alone changes here, and is restored afterwards.
     */
    @Test
    void revokingTheFarWorkloadClosesItsLiveTunnelThroughTheGateway() throws Exception {
        var echoId = io.jmesh.core.identity.SpiffeId.parse("spiffe://cluster.local/ns/default/sa/echo");
        var trust = nodeA.ztunnel.trust();
        var before = trust.snapshot();
        double closedBefore = nodeA.metric("ztunnel_revoked_connections_closed_total", "direction", "outbound",
                "reason", "revoked");
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, HOST, 80)) {
            s.setSoTimeout(15_000); // far beyond the close: a read that times out is a tunnel left open
            s.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
            assertThat(new String(s.getInputStream().readNBytes(4), StandardCharsets.UTF_8)).isEqualTo("ping");
            var serial = nodeB.ztunnel.identities().current(echoId).chain().get(0).getSerialNumber();
            trust.install(new io.jmesh.ztunnel.tls.TrustSnapshot(before.version() + 1, before.roots(),
                    java.util.Set.of(serial), before.crlNextUpdate(), "test"));
            int next;
            try {
                next = s.getInputStream().read();
            } catch (java.net.SocketException e) {
                next = -1; // reset: ended as well
            }
            assertThat(next).as("the tunnel to the revoked workload ended").isEqualTo(-1);
            assertThat(nodeA.metric("ztunnel_revoked_connections_closed_total", "direction", "outbound", "reason",
                    "revoked")).isEqualTo(closedBefore + 1);
        } finally {
            trust.install(new io.jmesh.ztunnel.tls.TrustSnapshot(before.version() + 2, before.roots(),
                    before.revoked(), before.crlNextUpdate(), before.source()));
        }
    }

    @Test
    void aFarWaypointAnsweringWithAnotherIdentityIsRefused() throws Exception {
        assertRefusedAndCounted(MISGUARDED, "hbone_connect");
    }

    @Test
    void moreThanTheStreamWindowsCrossesBothLayersOfFlowControlIntact() throws Exception {
        // 6 MiB each way: beyond the 4 MiB stream windows of the outer and the inner tunnel, so both return window
        // as the far side reads (TLS records inside DATA frames inside TLS records)
        byte[] payload = new byte[6 << 20];
        new java.util.Random(7).nextBytes(payload);
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, HOST, 80)) {
            s.setSoTimeout(30_000);
            Thread writer = new Thread(() -> {
                try {
                    s.getOutputStream().write(payload);
                    s.shutdownOutput();
                } catch (java.io.IOException e) {
                    // the reader's assertion reports it
                }
            }, "double-hbone-writer");
            writer.start();
            byte[] back = s.getInputStream().readAllBytes();
            writer.join(30_000);
            assertThat(back.length).isEqualTo(payload.length);
            assertThat(java.util.Arrays.equals(back, payload)).as("the bytes that came back").isTrue();
        }
    }

    @Test
    void manyShortConnectionsInParallelAllGetThrough() throws Exception {
        int loops = 4;
        int each = Integer.getInteger("stress.each", 50);
        java.util.concurrent.atomic.AtomicInteger ok = new java.util.concurrent.atomic.AtomicInteger();
        List<String> failures = new CopyOnWriteArrayList<>();
        List<Thread> threads = new java.util.ArrayList<>();
        for (int t = 0; t < loops; t++) {
            Thread th = new Thread(() -> {
                for (int i = 0; i < each; i++) {
                    byte[] payload = ("short " + i).getBytes(StandardCharsets.UTF_8);
                    try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, HOST, 80)) {
                        s.setSoTimeout(20_000);
                        s.getOutputStream().write(payload);
                        s.shutdownOutput();
                        if (java.util.Arrays.equals(s.getInputStream().readAllBytes(), payload)) {
                            ok.incrementAndGet();
                        } else {
                            failures.add("wrong bytes");
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            });
            th.start();
            threads.add(th);
        }
        for (Thread th : threads) {
            th.join(120_000);
        }
        assertThat(failures).isEmpty();
        assertThat(ok.get()).isEqualTo(loops * each);
    }

    @Test
    void aGatewayThatCannotRouteTheServiceGetsTheClientRefusedWithItsStatus() throws Exception {
        assertRefusedAndCounted("unrouted.default.svc.cluster.local", "hbone_status_503");
    }

    @Test
    void anEndpointOnANetworkWithoutGatewayIsRefusedWithTheReason() throws Exception {
        assertRefusedAndCounted("lonely.default.svc.cluster.local", "no_network_gateway");
    }

    static void assertRefusedAndCounted(String host, String reason) {
        double before = nodeA.metric("ztunnel_connection_rejections_total", "direction", "outbound", "reason", reason);
        assertThatThrownBy(() -> Socks5Client.connect(nodeA.socks(), CLIENT_IP, host, 80).close())
                .isInstanceOf(Socks5Client.Refused.class);
        assertThat(nodeA.metric("ztunnel_connection_rejections_total", "direction", "outbound", "reason", reason))
                .isEqualTo(before + 1);
    }
}
