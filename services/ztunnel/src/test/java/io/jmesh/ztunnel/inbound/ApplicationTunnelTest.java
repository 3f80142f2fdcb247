package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.RawHboneClient.Answer;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A workload with a PROXY application tunnel (a sandwiched waypoint, in Istio's words): ztunnel delivers every
 * tunnel to the tunnel's port, whatever address the {@code :authority} names, and starts the bytes with a PROXY v2
 * header carrying the client, the HBONE target and the client's SPIFFE identity (TLV 0xD0). The application here
 * parses the header itself.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ApplicationTunnelTest {

    static final String WAYPOINT_IP = "127.0.50.11";
    static final String PLAIN_IP = "127.0.50.12";
    static final String RAW_IP = "127.0.50.13";

    /** What the application read: the header's fields and the payload after it. */
    record Received(int command, int family, String source, String destination, int tlvType, String identity,
            String payload) {}

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static RawHboneClient client;
    static ServerSocket app;
    static final BlockingQueue<Received> received = new LinkedBlockingQueue<>();
    /** The application behind a NONE tunnel, and the bytes each of its connections brought, unchanged. */
    static ServerSocket rawApp;
    static final BlockingQueue<String> rawReceived = new LinkedBlockingQueue<>();

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        app = new ServerSocket();
        app.bind(new InetSocketAddress(WAYPOINT_IP, 0));
        Thread server = new Thread(ApplicationTunnelTest::serve, "proxy-protocol-app");
        server.setDaemon(true);
        server.start();
        rawApp = new ServerSocket();
        rawApp.bind(new InetSocketAddress(RAW_IP, 0));
        Thread rawServer = new Thread(ApplicationTunnelTest::serveRaw, "raw-app");
        rawServer.setDaemon(true);
        rawServer.start();
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: waypoint, name: waypoint, namespace: default, serviceAccount: waypoint,
                     addresses: [%s], node: node-e, tunnelProtocol: HBONE,
                     applicationTunnel: {protocol: PROXY, port: %d},
                     services: {"default/fronted.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: plain, name: plain, namespace: default, serviceAccount: plain, addresses: [%s],
                     node: node-e, tunnelProtocol: HBONE}
                  - {uid: raw, name: raw, namespace: default, serviceAccount: raw, addresses: [%s],
                     node: node-e, tunnelProtocol: HBONE, applicationTunnel: {protocol: NONE, port: %d}}
                services:
                  # VIPs: one on another network, an IPv6 and an IPv4 one on ours
                  - {name: fronted, namespace: default, hostname: fronted.default.svc.cluster.local,
                     addresses: [{network: net-x, address: 10.96.9.9}, {address: "fd00::96:7"}, {address: 10.96.7.7}],
                     ports: [{servicePort: 80, targetPort: 8080}]}
                """.formatted(WAYPOINT_IP, app.getLocalPort(), PLAIN_IP, RAW_IP, rawApp.getLocalPort()));
        node = ZtunnelHarness.start(dir, "node-e", setup.localNode("node-e", "127.0.50.1", mesh, null), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        node.close();
        app.close();
        rawApp.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** The application: reads one PROXY v2 header and the rest, answers "ok " + the rest. Bounded by the test. */
    static void serve() {
        for (int i = 0; i < 20; i++) {
            try (Socket s = app.accept()) {
                s.setSoTimeout(10_000);
                DataInputStream in = new DataInputStream(s.getInputStream());
                byte[] signature = in.readNBytes(12);
                assertThat(HexFormat.of().formatHex(signature)).isEqualTo("0d0a0d0a000d0a515549540a");
                int command = in.readUnsignedByte();
                int family = in.readUnsignedByte();
                ByteBuffer rest = ByteBuffer.wrap(in.readNBytes(in.readUnsignedShort()));
                int addressLength = family == 0x11 ? 4 : 16;
                byte[] src = new byte[addressLength];
                byte[] dst = new byte[addressLength];
                rest.get(src).get(dst);
                int srcPort = rest.getShort() & 0xffff;
                int dstPort = rest.getShort() & 0xffff;
                int tlvType = rest.hasRemaining() ? rest.get() & 0xff : -1;
                String identity = null;
                if (tlvType >= 0) {
                    byte[] value = new byte[rest.getShort() & 0xffff];
                    rest.get(value);
                    identity = new String(value, StandardCharsets.UTF_8);
                }
                String payload = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                received.add(new Received(command, family,
                        java.net.InetAddress.getByAddress(src).getHostAddress() + ":" + srcPort,
                        java.net.InetAddress.getByAddress(dst).getHostAddress() + ":" + dstPort, tlvType, identity,
                        payload));
                OutputStream out = s.getOutputStream();
                out.write(("ok " + payload).getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (Exception e) {
                return; // closed by the test
            }
        }
    }

    /** The application behind the NONE tunnel: reads everything, answers "raw " + it. Bounded by the test. */
    static void serveRaw() {
        for (int i = 0; i < 20; i++) {
            try (Socket s = rawApp.accept()) {
                s.setSoTimeout(10_000);
                String payload = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                rawReceived.add(payload);
                OutputStream out = s.getOutputStream();
                out.write(("raw " + payload).getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (Exception e) {
                return; // closed by the test
            }
        }
    }

    /**
     * Istio's {@code validate_destination} accepts any target for a workload with an application tunnel, whatever
     * its protocol, and its inbound delivers to the address dialled on the tunnel's port; NONE only leaves out the
     * PROXY header.
     */
    @Test
    void aNoneTunnelTakesAnyTargetToTheTunnelPortWithTheBytesUnchanged() throws Exception {
        InetSocketAddress hbone = new InetSocketAddress(RAW_IP, 15008);
        for (String target : new String[] {"10.96.0.99:80", RAW_IP + ":8080"}) {
            Answer a = client.request(hbone, RawHboneClient.connect(target), "ping " + target);
            assertThat(a.status()).as(target).isEqualTo(200);
            assertThat(a.body()).as(target).isEqualTo("raw ping " + target);
            assertThat(rawReceived.poll(10, TimeUnit.SECONDS)).as(target).isEqualTo("ping " + target);
        }
    }

    @Test
    void anyTargetIsDeliveredToTheTunnelPortBehindAProxyHeaderNamingClientTargetAndIdentity() throws Exception {
        InetSocketAddress hbone = new InetSocketAddress(WAYPOINT_IP, 15008);
        // a target that is no workload at all (say, a service VIP the waypoint serves): the waypoint decides
        Answer a = client.request(hbone, RawHboneClient.connect("10.96.0.99:80"), "ping");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("ok ping");
        Received r = received.poll(10, TimeUnit.SECONDS);
        assertThat(r).isNotNull();
        assertThat(r.command()).isEqualTo(0x21); // version 2, PROXY
        assertThat(r.family()).isEqualTo(0x11); // TCP over IPv4
        assertThat(r.source()).startsWith("127.0.0.1:"); // the HBONE client
        assertThat(r.destination()).isEqualTo("10.96.0.99:80");
        assertThat(r.tlvType()).isEqualTo(0xD0);
        assertThat(r.identity()).isEqualTo("spiffe://cluster.local/ns/default/sa/client");
        assertThat(r.payload()).isEqualTo("ping");

        // the workload's own address and another port: still the tunnel's port
        Answer own = client.request(hbone, RawHboneClient.connect(WAYPOINT_IP + ":8080"), "pong");
        assertThat(own.body()).isEqualTo("ok pong");
        assertThat(received.poll(10, TimeUnit.SECONDS).destination()).isEqualTo(WAYPOINT_IP + ":8080");
    }

    @Test
    void aHostnameTargetIsAnnouncedAsTheServicesIpv4VipOnThisNetwork() throws Exception {
        // PROXY has no room for a name: as Istio, a VIP of the service on our network, IPv4 first
        Answer a = client.request(new InetSocketAddress(WAYPOINT_IP, 15008),
                RawHboneClient.connect("fronted.default.svc.cluster.local:80"), "by name");
        assertThat(a.status()).isEqualTo(200);
        Received r = received.poll(10, TimeUnit.SECONDS);
        assertThat(r).isNotNull();
        assertThat(r.destination()).isEqualTo("10.96.7.7:80");
        assertThat(r.payload()).isEqualTo("by name");
    }

    @Test
    void aTargetOnOneOfZtunnelsOwnPortsIsRefusedThoughTheTunnelPortIsAnother() throws Exception {
        // as Istio's inbound, which checks the target's port before the tunnel's port replaces it: an HBONE target
        // on 15008 is a request to tunnel into a tunnel, whatever the application would make of it
        InetSocketAddress hbone = new InetSocketAddress(WAYPOINT_IP, 15008);
        for (String target : new String[] {"10.96.0.99:15008", WAYPOINT_IP + ":15008"}) {
            assertThat(client.request(hbone, RawHboneClient.connect(target), "x").status()).as(target).isEqualTo(503);
        }
        assertThat(received).isEmpty();
    }

    @Test
    void withoutAnApplicationTunnelTheTargetMustBeTheWorkloadAddressed() throws Exception {
        Answer a = client.request(new InetSocketAddress(PLAIN_IP, 15008), RawHboneClient.connect("10.96.0.99:80"),
                "ping");
        assertThat(a.status()).isEqualTo(400); // no workload has that address: Istio's IPMismatch
        Answer other = client.request(new InetSocketAddress(PLAIN_IP, 15008),
                RawHboneClient.connect(WAYPOINT_IP + ":8080"), "ping");
        assertThat(other.status()).isEqualTo(400); // authority_mismatch: the waypoint, addressed to plain
    }
}
