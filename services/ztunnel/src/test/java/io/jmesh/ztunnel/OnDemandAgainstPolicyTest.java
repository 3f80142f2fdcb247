package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.net.IpLiteral;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
 * {@link OnDemandDiscoveryTest}'s twin against policy's <em>real</em> delta ADS server ({@link AdsServerHarness}:
 * gRPC over TLS, node tokens reviewed, the mesh built by the real {@code MeshStateBuilder} from Kubernetes-shaped
 * manifests read by the real {@code ManifestReader}), not a scripted one. node-a runs with on-demand discovery
 * (Istio's {@code XDS_ON_DEMAND}); node-b takes the whole mesh from the same server by wildcard subscription.
 *
 * <p>node-a starts knowing nothing and is ready; a client workload it has never heard of reaches a service it has
 * never heard of by VIP and by hostname, by HBONE with its SPIFFE identity; an address policy does not know goes
 * passthrough and counts as not found; a change to the service made after its first use is pushed to node-a
 * without a new demand; and node-a ends up holding only what it asked for (and the service's endpoints), not the
 * rest of the mesh.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OnDemandAgainstPolicyTest {

    static final String NODE_A_IP = "127.0.170.1";
    static final String CLIENT_IP = "127.0.170.11";
    static final String IDLE_A_IP = "127.0.170.50";
    static final String NODE_B_IP = "127.0.171.1";
    static final String ECHO_IP = "127.0.171.11";
    static final String ECHO2_IP = "127.0.171.12";
    static final String IDLE_B_IP = "127.0.171.50";
    static final String PLAIN_IP = "127.0.171.90";
    static final String VIP = "10.96.170.10";
    static final String BYNAME_VIP = "10.96.170.20";
    static final String IDLE_VIP = "10.96.171.30";

    static final String UID = "Kubernetes/networking.istio.io/WorkloadEntry/";
    static final String SLEEP = UID + "default/sleep";
    static final String ECHO_1 = UID + "default/echo-1";
    static final String ECHO_2 = UID + "default/echo-2";
    static final String IDLE_A = UID + "other/idle-a";
    static final String IDLE_B = UID + "other/idle-b";
    static final String ECHO_SVC = "default/echo.default.svc.cluster.local";
    static final String BYNAME_SVC = "default/byname.default.svc.cluster.local";
    static final String IDLE_SVC = "other/idle.other.svc.cluster.local";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static Vertx policyVertx;
    static LocalNodeSetup setup;
    static FakeTokenReview tokenReview;
    static AdsServerHarness policy;
    static TestPki pki;
    static int policyPort;
    static EchoServer echo1;
    static EchoServer echo2;
    static int echo1Port;
    static int echo2Port;
    static int plainPort;
    static ZtunnelHarness nodeA;
    static ZtunnelHarness nodeB;

    static final ManifestReader READER = new ManifestReader("istio-system");

    static String entry(String ns, String name, String address, String node, String extra) {
        return "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: " + name + ", namespace: "
                + ns + "}\nspec: {address: '" + address + "', node: " + node + (extra == null ? "" : ", " + extra)
                + "}\n";
    }

    static String echoEntry(String name, String address, String app, int port) {
        return entry("default", name, address, "node-b",
                "serviceAccount: echo, labels: {app: " + app + "}, ports: {tcp-echo: " + port + "}");
    }

    static List<ConfigRecord> records(String... manifests) {
        List<ConfigRecord> out = new ArrayList<>();
        for (String m : manifests) {
            for (ParsedObject o : READER.read(m)) {
                assertThat(o.errors()).as(o.describe()).isEmpty();
                out.add(o.record());
            }
        }
        return out;
    }

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        policyVertx = Vertx.vertx(); // the replica shares no event loop with the rest, as in its own process
        setup = LocalNodeSetup.start(vertx, dir);
        echo1 = new EchoServer(vertx);
        echo2 = new EchoServer(vertx);
        echo1Port = echo1.start(ECHO_IP).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        echo2Port = echo2.start(ECHO2_IP).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        plainPort = new EchoServer(vertx).start(PLAIN_IP).toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS);

        pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(policyVertx, pki).nodeToken("policy-tok-a", "node-a")
                .nodeToken("policy-tok-b", "node-b");
        policy = new AdsServerHarness(policyVertx, pki, tokenReview, 100);
        // the service's endpoints reach the echo application through the named target port, each its own number
        policy.apply(records(
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: {istio.io/dataplane-mode:"
                        + " ambient}}\n",
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: other, labels: {istio.io/dataplane-mode:"
                        + " ambient}}\n",
                entry("default", "sleep", CLIENT_IP, "node-a", "serviceAccount: sleep, labels: {app: sleep}"),
                echoEntry("echo-1", ECHO_IP, "echo", echo1Port),
                echoEntry("echo-2", ECHO2_IP, "standby", echo2Port),
                """
                apiVersion: v1
                kind: Service
                metadata: {name: echo, namespace: default}
                spec: {selector: {app: echo}, clusterIP: %s, ports: [{port: 80, targetPort: tcp-echo}]}
                """.formatted(VIP),
                """
                apiVersion: v1
                kind: Service
                metadata: {name: byname, namespace: default}
                spec: {selector: {app: echo}, clusterIP: %s, ports: [{port: 81, targetPort: tcp-echo}]}
                """.formatted(BYNAME_VIP),
                // never used: node-a must never hear of them
                entry("other", "idle-a", IDLE_A_IP, "node-a", "labels: {app: idle}"),
                entry("other", "idle-b", IDLE_B_IP, "node-b", "labels: {app: idle}"),
                """
                apiVersion: v1
                kind: Service
                metadata: {name: idle, namespace: other}
                spec: {selector: {app: idle}, clusterIP: %s, ports: [{port: 80}]}
                """.formatted(IDLE_VIP)));
        assertThat(policy.skipped()).isEmpty();
        assertThat(policy.state().addresses()).containsKeys(SLEEP, ECHO_1, ECHO_2, IDLE_A, IDLE_B, ECHO_SVC,
                BYNAME_SVC, IDLE_SVC);
        policyPort = policy.start(0);

        nodeA = ZtunnelHarness.start(dir, "node-a", node("node-a", NODE_A_IP, "policy-tok-a", true), null);
        nodeB = ZtunnelHarness.start(dir, "node-b", node("node-b", NODE_B_IP, "policy-tok-b", false), null);
        await().atMost(Duration.ofSeconds(30)).until(() -> nodeA.ready() && nodeB.ready());
    }

    /** A node in local mode whose only discovery is policy's delta ADS (over TLS, with its node token). */
    static String node(String name, String address, String policyToken, boolean onDemand) throws Exception {
        Path token = Files.writeString(dir.resolve(name + "-policy-token"), policyToken);
        String discovery = "{address: \"127.0.0.1:%d\", tokenFile: \"%s\", rootCertFile: \"%s\", onDemand: %b}"
                .formatted(policyPort, token, pki.rootPem, onDemand);
        return ZtunnelHarness.localNode(name, address, discovery, -1, setup.caPort(), setup.token(), null);
    }

    @AfterAll
    static void stop() throws Exception {
        for (ZtunnelHarness n : new ZtunnelHarness[] {nodeA, nodeB}) {
            if (n != null) {
                n.close();
            }
        }
        if (policy != null) {
            policy.close();
        }
        if (tokenReview != null) {
            tokenReview.close();
        }
        for (Vertx v : new Vertx[] {vertx, policyVertx}) {
            if (v != null) {
                v.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            }
        }
    }

    static String roundTrip(Socket s, String text) throws Exception {
        s.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
        s.getOutputStream().flush();
        s.shutdownOutput();
        InputStream in = s.getInputStream();
        return new String(in.readAllBytes(), StandardCharsets.UTF_8); // bounded: Socks5Client sets SO_TIMEOUT
    }

    static double demands(String result) {
        return nodeA.metric("ztunnel_on_demand_requests_total", "result", result);
    }

    static double allDemands() {
        return demands("found") + demands("not_found") + demands("timeout");
    }

    /** node-b's destination-side connections of {@code workload}, from the client's identity over mutual TLS. */
    static double hboneArrivals(String workload) {
        return nodeB.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "destination_workload=\"" + workload + "\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/sleep\"",
                "connection_security_policy=\"mutual_tls\"");
    }

    /** Everything policy sent was applied: no NACK, and every name ztunnel subscribed was one policy understands. */
    static void policyAcceptedEverything() {
        assertThat(policy.counter("policy_xds_nacks")).isZero();
        assertThat(policy.counter("policy_xds_invalid_resource_names")).isZero();
    }

    @Test
    @Order(1)
    void anOnDemandNodeSubscribesToNothingAndIsReadyWhileTheWildcardNodeGetsTheWholeMesh() {
        assertThat(nodeA.ready()).isTrue();
        // ready on the first (empty) Address response: policy took the first request as an on-demand one
        assertThat(nodeA.ztunnel.store().current().resources()).isEmpty();
        assertThat(demands("found")).isZero();
        // node-b, subscribed by wildcard to the same server, holds every address
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeB.ztunnel.store().current().resources().keySet()
                .equals(policy.state().addresses().keySet()));
        // node-b listens on its local workloads' addresses, as it learnt them from policy
        assertThat(nodeB.ztunnel.inbound().hboneAddresses()).contains(new InetSocketAddress(ECHO_IP, 15008),
                new InetSocketAddress(ECHO2_IP, 15008));
        assertThat(policy.subscriptions()).extracting(AdsServerHarness.Subscription::node)
                .contains("node-a", "node-b");
        policyAcceptedEverything();
    }

    @Test
    @Order(2)
    void anUnknownClientReachesAnUnknownServiceByVipThenByHostnameThroughHbone() throws Exception {
        double found = demands("found");
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, VIP, 80)) {
            assertThat(roundTrip(s, "hello on demand")).isEqualTo("hello on demand");
        }
        var index = nodeA.ztunnel.store().current();
        // the client (asked for by /CLIENT_IP) and the service (by /VIP) came, the latter with its endpoint
        Workload sleep = index.workloadByIp(IpLiteral.parse(CLIENT_IP));
        assertThat(sleep).isNotNull();
        assertThat(sleep.getUid()).isEqualTo(SLEEP);
        assertThat(index.serviceByVip(IpLiteral.parse(VIP))).isNotNull();
        assertThat(index.workloadByUid(ECHO_1)).as("the service's endpoint came with it").isNotNull();
        assertThat(index.workloadByUid(ECHO_1).getServicesMap()).containsKey(ECHO_SVC);
        assertThat(demands("found")).isGreaterThanOrEqualTo(found + 2);
        // by HBONE, with the client's SPIFFE identity (a passthrough would have reached echo-1 without node-b)
        assertThat(hboneArrivals("echo-1")).isEqualTo(1);
        assertThat(echo1.connections.get()).isEqualTo(1);
        // the client's certificate was fetched when its workload arrived
        assertThat(nodeA.ztunnel.identities().all()).isNotEmpty();

        // by hostname: a service node-a does not hold yet, asked for as namespace/hostname
        assertThat(index.serviceByName(BYNAME_SVC)).isNull();
        double foundBefore = demands("found");
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, "byname.default.svc.cluster.local", 81)) {
            assertThat(roundTrip(s, "by name")).isEqualTo("by name");
        }
        assertThat(demands("found")).isEqualTo(foundBefore + 1);
        assertThat(nodeA.ztunnel.store().current().serviceByName(BYNAME_SVC)).isNotNull();
        assertThat(hboneArrivals("echo-1")).isEqualTo(2);
        assertThat(echo1.connections.get()).isEqualTo(2);
        assertThat(demands("not_found")).isZero();
        assertThat(demands("timeout")).isZero();
        policyAcceptedEverything();
    }

    @Test
    @Order(3)
    void anAddressPolicyDoesNotKnowGoesPassthroughAndCountsAsNotFound() throws Exception {
        double notFound = demands("not_found");
        double arrivals = nodeB.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"");
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, PLAIN_IP, plainPort)) {
            assertThat(roundTrip(s, "outside the mesh")).isEqualTo("outside the mesh");
        }
        // policy answered "does not exist" (the alias in removed_resources): not found, not a timeout
        assertThat(demands("not_found")).isEqualTo(notFound + 1);
        assertThat(demands("timeout")).isZero();
        assertThat(nodeA.ztunnel.store().current().workloadByIp(IpLiteral.parse(PLAIN_IP))).isNull();
        assertThat(nodeB.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\""))
                .as("passthrough: no tunnel").isEqualTo(arrivals);

        // answered once: the next connection asks nothing
        double asked = allDemands();
        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, PLAIN_IP, plainPort)) {
            assertThat(roundTrip(s, "again")).isEqualTo("again");
        }
        assertThat(allDemands()).isEqualTo(asked);
        policyAcceptedEverything();
    }

    @Test
    @Order(4)
    void aChangeToTheServiceAfterItsFirstUseIsPushedWithoutANewDemand() throws Exception {
        double asked = allDemands();
        // the service's endpoint is replaced: echo-2 joins it, echo-1 leaves it (still in the mesh)
        policy.apply(records(echoEntry("echo-1", ECHO_IP, "retired", echo1Port),
                echoEntry("echo-2", ECHO2_IP, "echo", echo2Port)));
        assertThat(policy.skipped()).isEmpty();
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            var index = nodeA.ztunnel.store().current();
            Workload w = index.workloadByUid(ECHO_2);
            return w != null && w.getServicesMap().containsKey(ECHO_SVC) && index.workloadByUid(ECHO_1) == null;
        });
        assertThat(allDemands()).as("pushed by policy, not asked for").isEqualTo(asked);
        var index = nodeA.ztunnel.store().current();
        assertThat(index.endpoints(index.serviceByVip(IpLiteral.parse(VIP)))).extracting(Workload::getUid)
                .containsExactly(ECHO_2);
        await().atMost(Duration.ofSeconds(20)).until(() -> nodeB.ztunnel.store().current().workloadByUid(ECHO_2)
                .getServicesMap().containsKey(ECHO_SVC));

        try (Socket s = Socks5Client.connect(nodeA.socks(), CLIENT_IP, VIP, 80)) {
            assertThat(roundTrip(s, "to the new endpoint")).isEqualTo("to the new endpoint");
        }
        assertThat(echo2.connections.get()).isEqualTo(1);
        assertThat(echo1.connections.get()).isEqualTo(2);
        assertThat(hboneArrivals("echo-2")).isEqualTo(1);
        assertThat(allDemands()).isEqualTo(asked);
        policyAcceptedEverything();
    }

    @Test
    @Order(5)
    void theOnDemandNodeHoldsOnlyWhatItAskedForAndTheServicesEndpoints() {
        assertThat(nodeA.ztunnel.store().current().resources().keySet())
                .containsExactlyInAnyOrder(SLEEP, ECHO_SVC, BYNAME_SVC, ECHO_2);
        // the rest of the mesh exists (node-b holds it), including a workload on node-a itself
        assertThat(nodeB.ztunnel.store().current().resources().keySet())
                .containsAll(List.of(SLEEP, ECHO_1, ECHO_2, IDLE_A, IDLE_B, ECHO_SVC, BYNAME_SVC, IDLE_SVC));
        assertThat(nodeA.ztunnel.store().current().workloadByIp(IpLiteral.parse(IDLE_A_IP))).isNull();
        assertThat(nodeA.ztunnel.inbound().hboneAddresses()).doesNotContain(new InetSocketAddress(IDLE_A_IP, 15008));
        assertThat(policy.counter("policy_xds_responses", "type_url", TypeUrls.ADDRESS)).isPositive();
        policyAcceptedEverything();
    }
}
