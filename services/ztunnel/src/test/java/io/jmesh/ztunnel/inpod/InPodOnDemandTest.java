package io.jmesh.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.net.IpLiteral;
import io.jmesh.testing.netns.IstioCni;
import io.jmesh.ztunnel.ZtunnelBootstrap;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.identity.CaClient;
import io.jmesh.ztunnel.identity.GrpcCaClient;
import io.jmesh.ztunnel.testing.AliasAdsServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * In-pod mode with on-demand discovery (root only; skipped with the reason elsewhere): the lab of
 * {@link InPodNetnsTest} (two pods, Istio's redirection rules, a stand-in CNI agent), but ztunnel starts knowing no
 * workload and asks {@link AliasAdsServer} for each one as connections need it. The agent adds both pods with their
 * Kubernetes uids and workload info, as istio-cni does: both pods' certificates are fetched at once, from that info,
 * before any connection and with nothing asked of discovery, and ztunnel is ready only once it holds them.
 * Plaintext captured on pod B's 15006 asks for both pods; a connection captured on pod A's 15001 to a service VIP
 * asks for the service, and goes by HBONE to pod B.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class InPodOnDemandTest {

    static final String TAG = Long.toHexString(ProcessHandle.current().pid());
    static final String POD_A = "jmoa" + TAG;
    static final String POD_B = "jmob" + TAG;
    static final String IP_A = "10.252.0.1";
    static final String IP_B = "10.252.0.2";
    static final String VIP = "10.96.0.21";
    static final int APP_PORT = 8080;
    /** The pods' uids as istio-cni names them: Kubernetes pod uids, not the workloads' xDS names. */
    static final String UID_A = "5d0b8c1e-3f6a-4c27-9e81-7a2f4b6d0c13";
    static final String UID_B = "0c7e6f3a-5b1d-4e2a-9f47-b2d0c1e8a9f4";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static IstioCni.Agent agent;
    static AliasAdsServer policy;
    static ZtunnelHarness node;
    static PodPair pods;

    @BeforeAll
    static void lab() throws Exception {
        String reason = PodPair.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        pods = PodPair.create(POD_A, POD_B, IP_A, IP_B, null, null, dir.resolve("app.log"));

        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: "Kubernetes//Pod/default/pod-a", name: pod-a, namespace: default, serviceAccount: a,
                     addresses: [%s], node: node-a, tunnelProtocol: HBONE}
                  - {uid: "Kubernetes//Pod/default/pod-b", name: pod-b, namespace: default, serviceAccount: b,
                     addresses: [%s], node: node-a, tunnelProtocol: HBONE,
                     services: {"default/echo.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: %d}]}}}
                services:
                  - {name: echo, namespace: default, hostname: echo.default.svc.cluster.local,
                     addresses: [{address: %s}], ports: [{servicePort: 80, targetPort: %d}]}
                """.formatted(IP_A, IP_B, APP_PORT, VIP, APP_PORT));
        policy = new AliasAdsServer(vertx, StaticConfigFile.read(mesh).addresses());
        int policyPort = policy.start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        Path socket = dir.resolve("ztunnel.sock");
        agent = new IstioCni.Agent(socket, dir);
        // the real ca, behind a gate that holds every CSR until the test has seen ztunnel wait for them
        String token = Files.readString(setup.token()).trim();
        CaClient realCa = new GrpcCaClient(vertx, GrpcClient.client(vertx),
                SocketAddress.inetSocketAddress(setup.caPort(), "127.0.0.1"), () -> token, "Kubernetes",
                Duration.ofSeconds(30));
        Promise<Void> caOpen = Promise.promise();
        AtomicInteger csrsHeld = new AtomicInteger();
        CaClient gatedCa = (csr, id, ttl) -> {
            csrsHeld.incrementAndGet();
            return caOpen.future().compose(v -> realCa.createCertificate(csr, id, ttl));
        };
        node = ZtunnelHarness.start(dir, "node-a", """
                logLevel: info
                drainDeadline: 5s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-a, address: 127.0.142.1}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: -1, localAdmin: 0,
                            readiness: 0, dns: -1, inboundPerWorkload: false, transparent: false}
                discovery: {address: "127.0.0.1:%d", onDemand: true}
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                inpod: {enabled: true, socket: "%s", retryInterval: 1s}
                """.formatted(policyPort, setup.caPort(), setup.token(), socket),
                new ZtunnelBootstrap.Collaborators(gatedCa, null, null, null, null));
        assertThat(agent.event().getInteger("version")).isEqualTo(1);
        assertThat(agent.add(UID_A, "/var/run/netns/" + POD_A, "pod-a", "default", "a")).isEmpty();
        assertThat(agent.add(UID_B, "/var/run/netns/" + POD_B, "pod-b", "default", "b")).isEmpty();
        assertThat(agent.send(new JsonObject().put("op", "snapshot")).getString("ack")).isEmpty();
        // config and the agent's snapshot are in, both pods' CSRs are asked for: ztunnel is not ready without them
        await().atMost(Duration.ofSeconds(30)).until(() -> csrsHeld.get() == 2
                && node.running.context().readiness().pending().equals(List.of("certificates")));
        assertThat(node.ready()).isFalse();
        caOpen.complete();
        await().atMost(Duration.ofSeconds(30)).until(node::ready);
    }

    @AfterAll
    static void cleanUp() throws Exception {
        PodPair.tearDown(pods, POD_A, POD_B, vertx, node, agent);
    }

    static String clientInPodA(String ip, int port, String text, boolean bypass) throws Exception {
        return pods.clientInA(ip, port, text, bypass);
    }

    static final SpiffeId SA_A = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/a");
    static final SpiffeId SA_B = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/b");

    @Test
    @Order(1)
    void thePodsTheAgentAddedHaveTheirCertificatesBeforeAnyConnection() throws Exception {
        // from the agent's workload info alone: discovery has been asked nothing, no workload is known. And ztunnel
        // reported ready only once it held them (lab() waited for ready, so there is nothing to wait for here)
        assertThat(node.ztunnel.identities().current(SA_A)).isNotNull();
        assertThat(node.ztunnel.identities().current(SA_B)).isNotNull();
        assertThat(node.metricSum("istio_tcp_connections_opened_total")).isZero();
        assertThat(policy.subscribed()).isEmpty();
        assertThat(node.ztunnel.store().current().workloadByIp(IpLiteral.parse(IP_A))).isNull();
        assertThat(node.ztunnel.store().current().workloadByIp(IpLiteral.parse(IP_B))).isNull();
        JsonObject onDemand = node.ztunnel.localAdmin().configDump().getJsonObject("onDemand");
        assertThat(onDemand.getInteger("subscribed")).isZero();
    }

    @Test
    @Order(2)
    void plaintextCapturedOnPodBAsksForBothPodsByAddressAndIsDelivered() throws Exception {
        // marked 0x539: pod A's rules let it out uncaptured, pod B's send it to 15006
        assertThat(clientInPodA(IP_B, APP_PORT, "plain", true)).isEqualTo("peer=" + IP_A + " plain");
        assertThat(policy.subscribed()).containsExactlyInAnyOrder("/" + IP_A, "/" + IP_B);
        // /config_dump lists the subscriptions with their answers
        assertThat(node.ztunnel.localAdmin().configDump().getJsonObject("onDemand").getJsonObject("aliases")
                .getMap()).containsEntry("/" + IP_A, "found").containsEntry("/" + IP_B, "found");
    }

    @Test
    @Order(3)
    void aConnectionCapturedOnPodAToAnUnknownServiceGoesByHbone() throws Exception {
        assertThat(clientInPodA(VIP, 80, "by vip", false)).isEqualTo("peer=" + IP_A + " by vip");
        assertThat(policy.subscribed()).contains("/" + VIP);
        assertThat(node.metricSum("istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "connection_security_policy=\"mutual_tls\"",
                "source_principal=\"spiffe://cluster.local/ns/default/sa/a\"")).isPositive();
        assertThat(node.metric("ztunnel_on_demand_requests_total", "result", "found")).isGreaterThanOrEqualTo(3);
    }
}
