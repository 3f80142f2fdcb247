package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.net.IpLiteral;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.testing.AliasAdsServer;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole ztunnel with on-demand discovery ({@code discovery.onDemand}, Istio's {@code XDS_ON_DEMAND}) against a
 * scripted delta ADS server that answers aliases from a fixed mesh ({@link AliasAdsServer}): node-a starts knowing
 * nothing and is ready anyway; a SOCKS5 client it has never heard of reaches a service it has never heard of by
 * HBONE (through node-b, which knows the mesh from a file); an address policy does not know still goes passthrough;
 * an inbound CONNECT naming an unknown workload asks for it and is still refused when it runs elsewhere;
 * {@code /config_dump} lists what was asked for with its answer; and the DNS proxy cannot be combined with on-demand
 * discovery.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OnDemandDiscoveryTest {

    static final String CLIENT_IP = "127.0.150.11";
    static final String ECHO_IP = "127.0.160.11";
    static final String OTHER_IP = "127.0.160.12";
    static final String PLAIN_IP = "127.0.160.50";
    static final String VIP = "10.96.50.10";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static LocalNodeSetup setup;
    static AliasAdsServer policy;
    static int policyPort;
    static int echoPort;
    static int plainPort;
    static ZtunnelHarness nodeA;
    static ZtunnelHarness nodeB;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        setup = LocalNodeSetup.start(vertx, dir);
        echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        plainPort = new EchoServer(vertx).start(PLAIN_IP).toCompletionStage().toCompletableFuture().get();
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: node-a/default/sleep, name: sleep, namespace: default, serviceAccount: sleep,
                     addresses: [%1$s], node: node-a, tunnelProtocol: HBONE}
                  - {uid: node-b/default/echo, name: echo, namespace: default, serviceAccount: echo,
                     addresses: [%2$s], node: node-b, tunnelProtocol: HBONE,
                     services: {"default/echo.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %4$d}]},
                                "default/byname.default.svc.cluster.local": {ports: [{servicePort: 81, targetPort: %4$d}]}}}
                  - {uid: node-b/default/other, name: other, namespace: default, serviceAccount: other,
                     addresses: [%3$s], node: node-b, tunnelProtocol: HBONE}
                services:
                  - {name: echo, namespace: default, hostname: echo.default.svc.cluster.local,
                     addresses: [{address: %5$s}], ports: [{servicePort: 80, targetPort: %4$d}]}
                  - {name: byname, namespace: default, hostname: byname.default.svc.cluster.local,
                     addresses: [{address: 10.96.50.20}], ports: [{servicePort: 81, targetPort: %4$d}]}
                """.formatted(CLIENT_IP, ECHO_IP, OTHER_IP, echoPort, VIP));
        policy = new AliasAdsServer(vertx, StaticConfigFile.read(mesh).addresses());
        policyPort = policy.start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        nodeA = ZtunnelHarness.start(dir, "node-a", onDemandNode(-1), null);
        nodeB = ZtunnelHarness.start(dir, "node-b", setup.localNode("node-b", "127.0.160.1", mesh, null), null);
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeA.ready() && nodeB.ready());
    }

    /** node-a: on-demand discovery from the scripted server, nothing else; {@code dns} its DNS proxy port. */
    static String onDemandNode(int dns) {
        return ZtunnelHarness.localNode("node-a", "127.0.150.1", "{address: \"127.0.0.1:" + policyPort
                + "\", onDemand: true}", dns, setup.caPort(), setup.token(), null);
    }

    @AfterAll
    static void stop() throws Exception {
        if (nodeA != null) {
            nodeA.close();
        }
        if (nodeB != null) {
            nodeB.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static String roundTrip(Socket s, String text) throws Exception {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        s.getOutputStream().write(b);
        s.getOutputStream().flush();
        s.shutdownOutput();
        InputStream in = s.getInputStream();
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }

    double demands(String result) {
        return nodeA.metric("ztunnel_on_demand_requests_total", "result", result);
    }

    @Test
    @Order(1)
    void aClientAndAServiceUnknownAtStartAreAskedForAndTheConnectionGoesByHbone() throws Exception {
        // ready with nothing known: no local workload to wait for
        assertThat(nodeA.ztunnel.store().current().resources()).isEmpty();
        DeltaDiscoveryRequest first = policy.addressSubscriptions().get(0);
        assertThat(first.getResourceNamesSubscribeList()).containsExactly("*");
        assertThat(first.getResourceNamesUnsubscribeList()).containsExactly("*");

        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, VIP, 80)) {
            assertThat(roundTrip(s, "hello on demand")).isEqualTo("hello on demand");
        }
        assertThat(policy.subscribed()).contains("/" + CLIENT_IP, "/" + VIP);
        var index = nodeA.ztunnel.store().current();
        assertThat(index.workloadByIp(IpLiteral.parse(CLIENT_IP))).isNotNull();
        assertThat(index.serviceByVip(IpLiteral.parse(VIP))).isNotNull();
        assertThat(index.workloadByIp(IpLiteral.parse(ECHO_IP))).as("the service's endpoint came with it").isNotNull();
        // by HBONE: node-b's inbound saw a tunnel (a passthrough would have reached echo without it)
        assertThat(nodeB.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"")).isPositive();
        // the client's certificate was fetched when its workload arrived
        assertThat(nodeA.ztunnel.identities().all()).isNotEmpty();
        assertThat(demands("found")).isGreaterThanOrEqualTo(2);
    }

    @Test
    @Order(2)
    void aServiceHostnameIsAskedForByNamespaceAndHostname() throws Exception {
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, "byname.default.svc.cluster.local", 81)) {
            assertThat(roundTrip(s, "by name")).isEqualTo("by name");
        }
        assertThat(policy.subscribed()).contains("default/byname.default.svc.cluster.local");
        // a name that is no service hostname cannot be placed in a namespace: refused as before, nothing asked
        assertThatThrownBy(() -> Socks5Client.connect(nodeA.socks(), CLIENT_IP, "example.com", 80))
                .isInstanceOf(Socks5Client.Refused.class);
        assertThat(policy.subscribed()).noneMatch(n -> n.contains("example.com"));
    }

    @Test
    @Order(3)
    void anAddressPolicyDoesNotKnowStillGoesPassthroughAfterTheAnswer() throws Exception {
        double notFound = demands("not_found");
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, PLAIN_IP, plainPort)) {
            assertThat(roundTrip(s, "outside the mesh")).isEqualTo("outside the mesh");
        }
        assertThat(policy.subscribed()).contains("/" + PLAIN_IP);
        assertThat(demands("not_found")).isEqualTo(notFound + 1);
        assertThat(nodeA.ztunnel.store().current().workloadByIp(IpLiteral.parse(PLAIN_IP))).isNull();
        // answered once: the next connection asks nothing
        long asked = policy.addressSubscriptions().size();
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, PLAIN_IP, plainPort)) {
            assertThat(roundTrip(s, "again")).isEqualTo("again");
        }
        assertThat(policy.addressSubscriptions()).hasSize((int) asked);
    }

    @Test
    @Order(4)
    void anInboundAuthorityOfAnUnknownWorkloadIsAskedForAndAWorkloadOfAnotherNodeStillRefused() throws Exception {
        // node-a listens for HBONE on its (now known) client workload's address
        InetSocketAddress hbone = new InetSocketAddress(CLIENT_IP, 15008);
        Socks5Client.connect(nodeA.socks(), CLIENT_IP, PLAIN_IP, plainPort).close(); // makes sure sleep is known
        await().until(() -> nodeA.ztunnel.inbound().hboneAddresses().contains(hbone));
        var cert = setup.ca().leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/peer");
        try (RawHboneClient client = new RawHboneClient(cert.keys().getPrivate(), cert.cert())) {
            double notLocal = nodeA.ztunnel.telemetry().rejections(false, "not_local_workload");
            var answer = client.request(hbone, RawHboneClient.connect(OTHER_IP + ":" + echoPort), null);
            assertThat(answer.status()).isEqualTo(400);
            assertThat(policy.subscribed()).contains("/" + OTHER_IP);
            assertThat(nodeA.ztunnel.store().current().workloadByIp(IpLiteral.parse(OTHER_IP))).isNotNull();
            assertThat(nodeA.ztunnel.telemetry().rejections(false, "not_local_workload")).isEqualTo(notLocal + 1);

            // an address nobody has: asked for, then refused as any address but the one dialled (IPMismatch)
            var nobody = client.request(hbone, RawHboneClient.connect("127.0.150.99:80"), null);
            assertThat(nobody.status()).isEqualTo(400);
            assertThat(policy.subscribed()).contains("/127.0.150.99");
        }
    }

    @Test
    @Order(5)
    void configDumpListsEverySubscriptionWithItsAnswer() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                "http://127.0.0.1:" + nodeA.ztunnel.localAdmin().port() + "/config_dump")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        JsonObject onDemand = new JsonObject(r.body()).getJsonObject("onDemand");
        Set<String> asked = policy.subscribed();
        assertThat(onDemand.getInteger("subscribed")).isEqualTo(asked.size());
        assertThat(onDemand.getInteger("limit")).isEqualTo(100_000);
        assertThat(onDemand.getInteger("omitted")).isZero();
        JsonObject aliases = onDemand.getJsonObject("aliases");
        assertThat(aliases.fieldNames()).containsExactlyInAnyOrderElementsOf(asked);
        assertThat(aliases.getMap()).containsEntry("/" + CLIENT_IP, "found").containsEntry("/" + VIP, "found")
                .containsEntry("default/byname.default.svc.cluster.local", "found")
                .containsEntry("/" + OTHER_IP, "found")
                .containsEntry("/" + PLAIN_IP, "not_found").containsEntry("/127.0.150.99", "not_found");
        JsonObject byState = onDemand.getJsonObject("byState");
        assertThat(byState.getInteger("found")).isEqualTo(count(aliases, "found"));
        assertThat(byState.getInteger("not_found")).isEqualTo(count(aliases, "not_found"));
        assertThat(byState.getInteger("pending")).isZero();
        assertThat(byState.getInteger("timeout")).isZero();
    }

    static int count(JsonObject aliases, String state) {
        return (int) aliases.getMap().values().stream().filter(state::equals).count();
    }

    @Test
    void onDemandDiscoveryWithTheDnsProxyIsRefusedAtStart() {
        assertThatThrownBy(() -> ZtunnelHarness.start(dir, "node-refused", onDemandNode(0), null))
                .rootCause()
                .hasMessageContaining("discovery.onDemand")
                .hasMessageContaining("listeners.dns")
                .hasMessageContaining("incompatible");
    }
}
