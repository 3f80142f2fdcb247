package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.RawHboneClient.Answer;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A waypoint captured by ztunnel without an application tunnel (Istio's "waypoint sandwich" with no PROXY): its
 * clients' CONNECTs name the original destination (a service VIP, or a workload on another node) whose waypoint it
 * is. As Istio's {@code validate_destination}, ztunnel takes such an authority and delivers to the waypoint itself
 * on the authority's port; an authority that is neither the address dialled nor a destination of this waypoint is
 * refused with 400.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SandwichedWaypointTest {

    static final String WAYPOINT_IP = "127.0.51.11";
    static final String BYSTANDER_IP = "127.0.51.12";
    static final String GUARDED_POD_IP = "127.0.51.13";
    static final String OTHER_WAYPOINT_IP = "127.0.51.14";
    static final String BY_VIP = "10.96.51.1";
    static final String BY_HOSTNAME = "10.96.51.2";
    static final String UNGUARDED = "10.96.51.3";
    static final String ELSEWHERE = "10.96.51.4";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static RawHboneClient client;
    static int appPort;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        // the waypoint's L7 listener: what a tunnel to it reaches, on the authority's port
        appPort = new EchoServer(vertx).start(WAYPOINT_IP).toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: waypoint, name: waypoint, namespace: default, serviceAccount: waypoint,
                     addresses: [%1$s], node: node-w, tunnelProtocol: HBONE,
                     services: {"default/waypoint.default.svc.cluster.local": {ports: [{servicePort: 15008, targetPort: 15008}]}}}
                  - {uid: bystander, name: bystander, namespace: default, serviceAccount: bystander,
                     addresses: [%2$s], node: node-w, tunnelProtocol: HBONE}
                  - {uid: guarded-pod, name: guarded-pod, namespace: default, serviceAccount: guarded,
                     addresses: [%3$s], node: node-x, tunnelProtocol: HBONE,
                     waypoint: {address: {address: %1$s}, hboneMtlsPort: 15008}}
                  - {uid: other-waypoint, name: other-waypoint, namespace: default, serviceAccount: other,
                     addresses: [%4$s], node: node-x, tunnelProtocol: HBONE}
                services:
                  - {name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local,
                     addresses: [{address: 10.96.51.9}], ports: [{servicePort: 15008}]}
                  - {name: by-vip, namespace: default, hostname: by-vip.default.svc.cluster.local,
                     addresses: [{address: %5$s}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {address: {address: %1$s}, hboneMtlsPort: 15008}}
                  - {name: by-hostname, namespace: default, hostname: by-hostname.default.svc.cluster.local,
                     addresses: [{address: %6$s}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {hostname: {namespace: default, hostname: waypoint.default.svc.cluster.local},
                                hboneMtlsPort: 15008}}
                  - {name: unguarded, namespace: default, hostname: unguarded.default.svc.cluster.local,
                     addresses: [{address: %7$s}], ports: [{servicePort: 80, targetPort: 8080}]}
                  - {name: elsewhere, namespace: default, hostname: elsewhere.default.svc.cluster.local,
                     addresses: [{address: %8$s}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {address: {address: %4$s}, hboneMtlsPort: 15008}}
                """.formatted(WAYPOINT_IP, BYSTANDER_IP, GUARDED_POD_IP, OTHER_WAYPOINT_IP, BY_VIP, BY_HOSTNAME,
                UNGUARDED, ELSEWHERE));
        node = ZtunnelHarness.start(dir, "node-w", setup.localNode("node-w", "127.0.51.1", mesh, null), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/client");
        client = new RawHboneClient(cert.keys().getPrivate(), cert.cert());
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private static Answer toWaypoint(String authority) throws Exception {
        return client.request(new InetSocketAddress(WAYPOINT_IP, 15008), RawHboneClient.connect(authority), "hi");
    }

    @Test
    void aServiceVipWhoseWaypointIsTheAddressedWorkloadReachesItOnTheAuthorityPort() throws Exception {
        Answer a = toWaypoint(BY_VIP + ":" + appPort);
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("hi");
    }

    @Test
    void aServiceWhoseWaypointIsTheAddressedWorkloadsServiceReachesIt() throws Exception {
        Answer a = toWaypoint(BY_HOSTNAME + ":" + appPort);
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("hi");
    }

    @Test
    void aWorkloadOnAnotherNodeWhoseWaypointIsTheAddressedWorkloadReachesIt() throws Exception {
        Answer a = toWaypoint(GUARDED_POD_IP + ":" + appPort);
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.body()).isEqualTo("hi");
    }

    @Test
    void aTargetThatIsNotThisWaypointsIsRefusedWith400() throws Exception {
        // a service without waypoint, one with another waypoint, an address nobody has, a workload on this node
        for (String target : new String[] {UNGUARDED, ELSEWHERE, "10.96.51.77", BYSTANDER_IP}) {
            assertThat(toWaypoint(target + ":" + appPort).status()).as(target).isEqualTo(400);
        }
        // and the waypoint's own address is still no one else's destination
        assertThat(client.request(new InetSocketAddress(BYSTANDER_IP, 15008),
                RawHboneClient.connect(BY_VIP + ":" + appPort), "hi").status()).isEqualTo(400);
    }
}
