package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.authz.Decision;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.channel.Channel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Plaintext inbound (15006) reports a connection it refuses after policy, or cannot connect to the application
 * for, as Istio's inbound passthrough does: opened and closed with {@code reporter="destination"} and a response
 * flag. (A plain listener on the workload's address stands in for TPROXY here: the accepted socket's local address
 * is the original destination either way.)
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PlaintextInboundTelemetryTest {

    static final String APP_IP = "127.0.95.10";
    static final String CLIENT_IP = "127.0.95.11";

    @TempDir
    Path dir;
    Vertx vertx;
    Channel listener;
    WorkloadStore store = new WorkloadStore();
    PrometheusRegistry registry = new PrometheusRegistry();
    ConnectionTelemetry telemetry = new ConnectionTelemetry(registry, null, false, "node-t");

    @AfterEach
    void stop() throws Exception {
        if (listener != null) {
            listener.close().sync();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static Address workload(String name, String ip) throws Exception {
        return Address.newBuilder().setWorkload(Workload.newBuilder().setUid(name).setName(name)
                .setNamespace("default").setServiceAccount(name).setNode("node-t")
                .addAddresses(ByteString.copyFrom(InetAddress.getByName(ip).getAddress()))).build();
    }

    /**
     * A plaintext inbound listener on the application's address; its connects to the application leave from
     * {@code nodeAddress}.
     */
    InetSocketAddress listen(Authorizer authorizer, InetAddress nodeAddress) throws Exception {
        vertx = Vertx.vertx();
        Path token = Files.writeString(dir.resolve("token"), "tok");
        Path file = dir.resolve("node-t.yaml");
        Files.writeString(file, ZtunnelHarness.localNode("node-t", "127.0.95.1", dir.resolve("mesh.yaml").toString(),
                1, token, null));
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", file, Map.of()).config();
        store.replaceAll(Map.of("app", workload("app", APP_IP), "client", workload("client", CLIENT_IP)));
        NetTransport net = NetTransport.of(vertx);
        InboundContext ctx = new InboundContext(config, store, null, authorizer, telemetry, net, Set.of(),
                nodeAddress, new OpenInbound(authorizer, telemetry, store), false, peer -> false);
        listener = net.server().childHandler(new PlaintextInbound(ctx)).bind(APP_IP, 0).sync().channel();
        return (InetSocketAddress) listener.localAddress();
    }

    /** Connects from the client's address and waits for the listener to close the connection. */
    static void refusedConnection(InetSocketAddress to) throws Exception {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(CLIENT_IP, 0));
            s.connect(to);
            s.setSoTimeout(20_000);
            InputStream in = s.getInputStream();
            assertThat(in.read()).as("closed by ztunnel").isEqualTo(-1);
        }
    }

    List<CounterSnapshot.CounterDataPointSnapshot> series(String name) {
        return registry.scrape().stream().filter(m -> m.getMetadata().getName().equals(name))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream()).toList();
    }

    void assertReportedWith(String flag) {
        assertReportedWith(flag, "unknown", "unknown", "unknown");
    }

    /** @param service the expected {@code destination_service}, its namespace and name */
    void assertReportedWith(String flag, String service, String serviceNamespace, String serviceName) {
        for (String name : List.of("istio_tcp_connections_opened", "istio_tcp_connections_closed",
                "istio_tcp_connections_failed")) {
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(series(name)).as(name)
                    .singleElement().satisfies(s -> {
                        assertThat(s.getValue()).isEqualTo(1);
                        assertThat(s.getLabels().get("reporter")).isEqualTo("destination");
                        assertThat(s.getLabels().get("source_workload")).isEqualTo("client");
                        assertThat(s.getLabels().get("destination_workload")).isEqualTo("app");
                        assertThat(s.getLabels().get("destination_service")).isEqualTo(service);
                        assertThat(s.getLabels().get("destination_service_namespace")).isEqualTo(serviceNamespace);
                        assertThat(s.getLabels().get("destination_service_name")).isEqualTo(serviceName);
                        assertThat(s.getLabels().get("response_flags"))
                                .isEqualTo(name.endsWith("opened") ? "-" : flag);
                    }));
        }
    }

    @Test
    void aConnectionPolicyDeniesIsReportedWithResponseFlagDeny() throws Exception {
        InetSocketAddress at = listen(facts -> Decision.deny("default/deny-all", "denied by default/deny-all"),
                InetAddress.getByName("127.0.95.1"));
        refusedConnection(at);
        assertReportedWith("DENY");
        assertThat(telemetry.rejections(false, "denied")).isEqualTo(1);
    }

    @Test
    void aFailedConnectToTheApplicationIsReportedWithResponseFlagConnect() throws Exception {
        // 192.0.2.1 (TEST-NET-1) is no address of this host: binding the connection to it fails
        InetSocketAddress at = listen(Authorizer.allowAll(), InetAddress.getByName("192.0.2.1"));
        refusedConnection(at);
        assertReportedWith("CONNECT");
        assertThat(telemetry.rejections(false, "connect_failed")).isEqualTo(1);
    }
    static final String SVC = "app-svc.default.svc.cluster.local";

    /**
     * Makes "app" an endpoint of two services: "other-svc", listed first, whose port is not {@code port}, and
     * "app-svc", which forwards its port 80 to {@code port}.
     */
    void appBehindServices(int port) throws Exception {
        Workload app = workload("app", APP_IP).getWorkload().toBuilder()
                .putServices("default/other-svc.default.svc.cluster.local", PortList.newBuilder().addPorts(
                        Port.newBuilder().setServicePort(9090).setTargetPort(port + 1)).build())
                .putServices("default/" + SVC, PortList.newBuilder().addPorts(
                        Port.newBuilder().setServicePort(80).setTargetPort(port)).build())
                .build();
        store.replaceAll(Map.of("app", Address.newBuilder().setWorkload(app).build(),
                "client", workload("client", CLIENT_IP),
                "default/other-svc.default.svc.cluster.local", service("other-svc", 9090, port + 1),
                "default/" + SVC, service("app-svc", 80, port)));
    }

    static Address service(String name, int port, int targetPort) {
        return Address.newBuilder().setService(Service.newBuilder().setName(name).setNamespace("default")
                .setHostname(name + ".default.svc.cluster.local")
                .addPorts(Port.newBuilder().setServicePort(port).setTargetPort(targetPort))).build();
    }

    /**
     * As Istio's inbound passthrough ({@code guess_inbound_service} over the destination workload's services, no
     * host header): the destination service is the first of the workload's services with a port on the port
     * connected to.
     */
    @Test
    void aDeniedConnectionNamesTheServiceOfTheDestinationPort() throws Exception {
        InetSocketAddress at = listen(facts -> Decision.deny("default/deny-all", "denied by default/deny-all"),
                InetAddress.getByName("127.0.95.1"));
        appBehindServices(at.getPort());
        refusedConnection(at);
        assertReportedWith("DENY", SVC, "default", "app-svc");
    }

    @Test
    void aFailedConnectNamesTheServiceOfTheDestinationPort() throws Exception {
        InetSocketAddress at = listen(Authorizer.allowAll(), InetAddress.getByName("192.0.2.1"));
        appBehindServices(at.getPort());
        refusedConnection(at);
        assertReportedWith("CONNECT", SVC, "default", "app-svc");
    }
}
