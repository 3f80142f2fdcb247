package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.fuzz.LeakWatch;
import io.jmesh.ztunnel.ZtunnelBootstrap;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.identity.CaClient;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.io.Closeable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real ztunnel's shutdown with a tunnel still waiting for its source workload's certificate: the workload arrives
 * after readiness (discovery's update), its certificate's fetch hangs at the CA, and two SOCKS5 connections from it
 * come meanwhile: a tunnel to a workload of this node, and a double-HBONE one to a service on another network.
 * Close ends them at once, not when the fetch ends: their access-log lines and CLOSED events
 * ({@code ClosedFromDrain}) are written before the event publisher closes, none counted lost, none counted as a
 * refusal, no buffer leaked. The CA is a {@link CaClient} whose answer for that identity never comes, whatever close does (the gRPC
 * client's close happens to fail a call in flight at once; a CA call that outlives it, as this one, is what
 * {@code identity.csrTimeout} ends, long after close's wait).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class CertificateWaitAtShutdownTest {

    static final String NODE_IP = "127.0.163.1";
    static final String CLIENT_IP = "127.0.163.11";
    static final String SERVER_IP = "127.0.163.12";
    /** Added after readiness: its certificate is not held when its connections come. */
    static final String LATE_IP = "127.0.163.13";
    /** On another network, reached through its east-west gateway (double HBONE); neither ever dialled. */
    static final String REMOTE_IP = "127.0.164.12";
    static final String GATEWAY_IP = "127.0.164.100";
    static final String REMOTE_VIP = "10.96.163.1";

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    Path dir;

    @BeforeAll
    static void topic() {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
    }

    @Test
    void tunnelWaitingForItsCertificateAtCloseIsLoggedAndPublishedAsClosedFromDrain() throws Exception {
        String node = "node-" + UUID.randomUUID();
        Vertx vertx = Vertx.vertx();
        ClosedEvents.AccessLog lines = new ClosedEvents.AccessLog();
        List<Closeable> held = new ArrayList<>();
        try {
            TestCa ca = new TestCa(vertx, "tok");
            int caPort = ca.start().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            // signs at once, but never answers for the late workload
            SpiffeId late = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/late");
            Queue<Promise<List<String>>> unanswered = new ConcurrentLinkedQueue<>();
            CaClient signer = (csr, identity, ttl) -> {
                if (identity.equals(late)) {
                    Promise<List<String>> never = Promise.promise();
                    unanswered.add(never);
                    return never.future();
                }
                try {
                    return Future.succeededFuture(List.of(Pem.encode(ca.sign(io.jmesh.ca.signing.CsrPem.parse(csr), identity)),
                            ca.rootPem()));
                } catch (Exception e) {
                    return Future.failedFuture(e);
                }
            };
            Path mesh = dir.resolve("mesh.yaml");
            StringBuilder workloads = new StringBuilder("workloads:\n");
            ConnectionTelemetryNodeTest.workload(workloads, "client", CLIENT_IP, node);
            ConnectionTelemetryNodeTest.workload(workloads, "server", SERVER_IP, node);
            workloads.append("""
                      - {uid: remote, name: remote, namespace: default, serviceAccount: remote, addresses: [%1$s],
                         node: node-b, network: net-b, tunnelProtocol: HBONE, canonicalName: remote,
                         networkGateway: {address: {network: net-b, address: %2$s}, hboneMtlsPort: 15008},
                         services: {"default/remote.default.svc.cluster.local": {ports: [{servicePort: 80,
                                    targetPort: 8080}]}}}
                      - {uid: ewgw, name: eastwest, namespace: istio-system, serviceAccount: istio-eastwestgateway,
                         addresses: [%2$s], node: node-gw, network: net-b, tunnelProtocol: HBONE}
                    """.formatted(REMOTE_IP, GATEWAY_IP));
            String services = """
                    services:
                      - {name: remote, namespace: default, hostname: remote.default.svc.cluster.local,
                         addresses: [{address: %s}], ports: [{servicePort: 80, targetPort: 8080}]}
                    """.formatted(REMOTE_VIP);
            Files.writeString(mesh, workloads + services);
            ZtunnelHarness ztunnel = start(node, mesh, caPort, signer);
            try {
                await().atMost(Duration.ofSeconds(30)).until(ztunnel::ready);
                lines.start();
                // a workload of this node arrives, whose certificate's prefetch then hangs
                ConnectionTelemetryNodeTest.workload(workloads, "late", LATE_IP, node);
                Files.writeString(mesh, workloads + services);
                ztunnel.ztunnel.store().replaceAll(StaticConfigFile.read(mesh).addresses());
                await().atMost(Duration.ofSeconds(10)).until(() -> unanswered.size() == 1);
                // its connections wait for that certificate (no reply before close: never), a tunnel to a workload
                // of this node and a double-HBONE one to the remote service, each with bytes sent early, which
                // their ends release
                LeakWatch.reset();
                for (String[] to : new String[][] {{SERVER_IP, "9"}, {REMOTE_VIP, "80"}}) {
                    java.net.Socket socks = Socks5Client.request(ztunnel.socks(), LATE_IP, to[0],
                            Integer.parseInt(to[1]));
                    held.add(socks);
                    socks.getOutputStream().write("early".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    socks.getOutputStream().flush();
                }
                ConnectionTelemetry telemetry = ztunnel.ztunnel.telemetry();
                await().atMost(Duration.ofSeconds(10)).until(() -> telemetry.openConnections() == 2);
                assertThat(unanswered).as("the certificate's fetch is still under way").hasSize(1);
            } finally {
                ztunnel.close();
                lines.close();
            }

            List<ConnectionEvent> closed = ClosedEvents.of(kafka, node, 2);
            assertThat(closed).as("CLOSED events in Kafka").extracting(ConnectionEvent::getReporter,
                    ConnectionEvent::getError, ConnectionEvent::getResponseFlags).containsExactly(
                            Tuple.tuple(Reporter.SOURCE, ConnectionTelemetry.CLOSED_FROM_DRAIN, ""),
                            Tuple.tuple(Reporter.SOURCE, ConnectionTelemetry.CLOSED_FROM_DRAIN, ""));
            assertThat(closed).allSatisfy(e -> assertThat(e.getBytesReceived() + e.getBytesSent()).isZero());
            List<Map<String, Object>> complete = lines.completeKeyValues();
            assertThat(complete).as("the access-log lines written by close: %s", complete)
                    .extracting(l -> l.get("dst.addr"), l -> l.get("error"), l -> l.get("response_flags"))
                    .containsExactlyInAnyOrder(
                            Tuple.tuple(SERVER_IP + ":15008", ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"),
                            // the double-HBONE one: its outer tunnel's hop, the gateway
                            Tuple.tuple(GATEWAY_IP + ":15008", ConnectionTelemetry.CLOSED_FROM_DRAIN, "-"));
            assertThat(ztunnel.metric("ztunnel_connection_closes_lost_total")).isZero();
            assertThat(ztunnel.metricSum("ztunnel_connection_rejections_total"))
                    .as("an attempt ztunnel ended itself is no refusal").isZero();
            assertThat(ztunnel.ztunnel.telemetry().openConnections()).isZero();
            assertThat(LeakWatch.leaks()).as("ByteBuf leaks").isEmpty();
        } finally {
            for (Closeable c : held) {
                c.close();
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private ZtunnelHarness start(String node, Path mesh, int caPort, CaClient ca) throws Exception {
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        // no progress walk within the test
        return ZtunnelHarness.start(dir, "node", ZtunnelHarness.localNode(node, NODE_IP, mesh.toString(), caPort,
                token, """
                        kafka: {bootstrapServers: "%s"}
                        telemetry: {progressInterval: 1h}
                        """.formatted(kafka.bootstrapServers())),
                new ZtunnelBootstrap.Collaborators(ca, null, null, null, null));
    }
}
