package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Address;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.RawHboneClient.Answer;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Policy for a workload with an application tunnel judges where Istio's inbound delivers the connection: its
 * {@code resolve_inbound_target} swaps the connection's destination for the address dialled on the tunnel's port
 * (the target's port when the tunnel names none), and RBAC reads that, not the {@code :authority}. Each workload
 * here has its own namespace and one namespace policy.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ApplicationTunnelAuthorizationTest {

    static final String DENY_PORT_IP = "127.0.217.11";
    static final String ALLOW_TARGET_IP = "127.0.217.12";
    static final String ALLOW_TUNNEL_IP = "127.0.217.13";
    static final String DENY_VIP_IP = "127.0.217.14";
    static final String LABELLED_IP = "127.0.217.15";
    static final String VIP = "10.96.0.99";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static RawHboneClient client;
    static final List<ServerSocket> apps = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        int denyPort = app(DENY_PORT_IP);
        int allowTarget = app(ALLOW_TARGET_IP);
        int allowTunnel = app(ALLOW_TUNNEL_IP);
        int denyVip = app(DENY_VIP_IP);
        int labelled = app(LABELLED_IP);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: deny-port, name: deny-port, namespace: deny-port, serviceAccount: app, addresses: [%s],
                     node: node-t, tunnelProtocol: HBONE, applicationTunnel: {protocol: PROXY, port: %d}}
                  - {uid: allow-target, name: allow-target, namespace: allow-target, serviceAccount: app,
                     addresses: [%s], node: node-t, tunnelProtocol: HBONE,
                     applicationTunnel: {protocol: NONE, port: %d}}
                  - {uid: allow-tunnel, name: allow-tunnel, namespace: allow-tunnel, serviceAccount: app,
                     addresses: [%s], node: node-t, tunnelProtocol: HBONE,
                     applicationTunnel: {protocol: NONE, port: %d}}
                  - {uid: deny-vip, name: deny-vip, namespace: deny-vip, serviceAccount: app, addresses: [%s],
                     node: node-t, tunnelProtocol: HBONE, applicationTunnel: {protocol: PROXY, port: %d}}
                  - {uid: labelled, name: labelled, namespace: labelled, serviceAccount: app, addresses: [%s],
                     node: node-t, tunnelProtocol: HBONE, applicationTunnel: {protocol: NONE, port: %d},
                     services: {"labelled/target.labelled.svc.cluster.local": {ports: []},
                                "labelled/tunnel.labelled.svc.cluster.local": {ports: []}}}
                services:
                  # one service targets the authority's port, the other the tunnel's
                  - {name: target, namespace: labelled, hostname: target.labelled.svc.cluster.local,
                     addresses: [{address: 10.96.0.51}], ports: [{servicePort: 80, targetPort: 8080}]}
                  - {name: tunnel, namespace: labelled, hostname: tunnel.labelled.svc.cluster.local,
                     addresses: [{address: 10.96.0.52}], ports: [{servicePort: 81, targetPort: %d}]}
                """.formatted(DENY_PORT_IP, denyPort, ALLOW_TARGET_IP, allowTarget, ALLOW_TUNNEL_IP, allowTunnel,
                DENY_VIP_IP, denyVip, LABELLED_IP, labelled, labelled));
        node = ZtunnelHarness.start(dir, "node-t", setup.localNode("node-t", "127.0.217.1", mesh, null), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        node.ztunnel.policies().apply(List.of(
                policy("deny-port", Action.DENY, Match.newBuilder().addDestinationPorts(denyPort)),
                policy("allow-target", Action.ALLOW, Match.newBuilder().addDestinationPorts(8080)),
                policy("allow-tunnel", Action.ALLOW, Match.newBuilder().addDestinationPorts(allowTunnel)),
                policy("deny-vip", Action.DENY, Match.newBuilder().addDestinationIps(Address.newBuilder()
                        .setAddress(ByteString.copyFrom(InetAddress.getByName(VIP).getAddress())).setLength(32)))),
                List.of());
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        node.close();
        for (ServerSocket s : apps) {
            s.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static Authorization policy(String namespace, Action action, Match.Builder match) {
        return Authorization.newBuilder().setName(namespace + "-policy").setNamespace(namespace)
                .setScope(Scope.NAMESPACE).setAction(action)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(match))).build();
    }

    /** An application on {@code ip} that reads each connection to its end and answers "ok"; its port. */
    static int app(String ip) throws Exception {
        ServerSocket s = new ServerSocket();
        s.bind(new InetSocketAddress(ip, 0));
        apps.add(s);
        Thread t = new Thread(() -> {
            for (int i = 0; i < 20; i++) {
                try (Socket c = s.accept()) {
                    c.setSoTimeout(10_000);
                    c.getInputStream().readAllBytes();
                    c.getOutputStream().write("ok".getBytes(StandardCharsets.UTF_8));
                } catch (Exception e) {
                    return; // closed by the test
                }
            }
        }, "app-" + ip);
        t.setDaemon(true);
        t.start();
        return s.getLocalPort();
    }

    static Answer connect(String workloadIp, String authority) throws Exception {
        return client.request(new InetSocketAddress(workloadIp, 15008), RawHboneClient.connect(authority), "ping");
    }

    @Test
    void aDenyOnTheTunnelsPortDeniesWhateverPortTheAuthorityNames() throws Exception {
        assertThat(connect(DENY_PORT_IP, VIP + ":80").status()).isEqualTo(401);
        assertThat(connect(DENY_PORT_IP, DENY_PORT_IP + ":8080").status()).isEqualTo(401);
    }

    @Test
    void anAllowNamingOnlyTheTargetPortDoesNotAllowWhatIsDeliveredToTheTunnelsPort() throws Exception {
        assertThat(connect(ALLOW_TARGET_IP, ALLOW_TARGET_IP + ":8080").status()).isEqualTo(401);
    }

    @Test
    void anAllowNamingTheTunnelsPortAllowsAnyTarget() throws Exception {
        Answer a = connect(ALLOW_TUNNEL_IP, VIP + ":80");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("ok");
    }

    @Test
    void theDestinationAddressJudgedIsTheOneDialledNotTheAuthoritys() throws Exception {
        // Istio's RBAC sees the workload's address (the connection's, with the tunnel's port): a DENY naming the
        // authority's VIP does not apply
        Answer a = connect(DENY_VIP_IP, VIP + ":80");
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("ok");
    }

    @Test
    void theDestinationServiceIsTheOneServingTheTunnelsPort() throws Exception {
        // Istio's guess_inbound_service reads the same swapped destination: the port is the tunnel's, so the
        // service targeting it, not the one targeting the authority's port
        assertThat(connect(LABELLED_IP, LABELLED_IP + ":8080").status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> node.metricSum("istio_tcp_connections_closed_total",
                "reporter=\"destination\"", "destination_workload=\"labelled\"") == 1);
        assertThat(node.metricSum("istio_tcp_connections_closed_total", "reporter=\"destination\"",
                "destination_workload=\"labelled\"", "destination_service=\"tunnel.labelled.svc.cluster.local\""))
                .isEqualTo(1);
    }
}
