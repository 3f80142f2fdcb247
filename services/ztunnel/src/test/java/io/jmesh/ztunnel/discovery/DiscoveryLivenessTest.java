package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.testing.net.BlackholeRelay;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * ztunnel's discovery connection notices a policy that stopped answering without closing anything (its node gone,
 * a partition, a NAT that forgot the flow), as Istio's ztunnel does with HTTP/2 keepalive PINGs: it drops the
 * connection and reconnects, keeping the configuration it holds. The client reaches the server through a relay
 * that can blackhole the connections it carries.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DiscoveryLivenessTest {

    Vertx vertx;
    HttpServer http;
    BlackholeRelay relay;
    PolicyChannel channel;
    DeltaAdsClient client;
    WorkloadStore store;
    PrometheusRegistry metrics;
    final List<GrpcServerResponse<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> streams =
            new CopyOnWriteArrayList<>();
    final ConcurrentLinkedQueue<DeltaDiscoveryRequest> received = new ConcurrentLinkedQueue<>();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> {
            streams.add(call.response());
            call.handler(received::add);
        });
        http = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().await(5, TimeUnit.SECONDS);
        relay = BlackholeRelay.to("127.0.0.1", http.actualPort());
        store = new WorkloadStore();
        metrics = new PrometheusRegistry();
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null,
                Map.of("MESH_DISCOVERY_INITIAL_BACKOFF", "20ms", "MESH_DISCOVERY_MAX_BACKOFF", "200ms",
                        "MESH_DISCOVERY_KEEPALIVE_INTERVAL", "300ms", "MESH_DISCOVERY_KEEPALIVE_TIMEOUT", "1s"))
                .config();
        channel = PolicyChannel.open(vertx, config.discovery(), metrics);
        client = new DeltaAdsClient(vertx, channel.grpc(), SocketAddress.inetSocketAddress(relay.port(), "127.0.0.1"),
                () -> "node-a-token", config, store, new RetainedPolicies(), metrics);
        client.start();
    }

    @AfterEach
    void stop() throws Exception {
        client.stop();
        channel.close();
        relay.close();
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @Test
    void aBlackholedPolicyConnectionIsDroppedAndDiscoveryReconnectsKeepingItsConfiguration() throws Exception {
        await().until(() -> streams.size() == 1);
        var first = streams.get(0);
        DeltaDiscoveryResponse w1 = DeltaDiscoveryResponse.newBuilder().setTypeUrl(DeltaAdsClient.ADDRESS_TYPE)
                .setNonce("n1").addResources(DeltaAdsClientTest.workload("w1", "10.0.0.1", "1")).build();
        vertx.runOnContext(v -> first.write(w1));
        await().until(() -> received.stream().anyMatch(r -> "n1".equals(r.getResponseNonce())));
        // PINGs answered for several intervals: a live connection stays
        Thread.sleep(1500);
        assertThat(relay.accepted()).isEqualTo(1);

        relay.blackhole();
        await("a second discovery stream through a new connection after the first was blackholed")
                .atMost(Duration.ofSeconds(20)).until(() -> streams.size() == 2);
        assertThat(relay.accepted()).isEqualTo(2);
        assertThat(store.current().workloadByUid("w1")).as("kept through the reconnect").isNotNull();
        await().until(() -> received.stream().anyMatch(r -> r.getInitialResourceVersionsMap().containsKey("w1")));
        assertThat(timeouts("policy")).isEqualTo(1.0);
    }

    private double timeouts(String peer) {
        return metrics.scrape().stream()
                .filter(m -> m.getMetadata().getName().equals("ztunnel_grpc_keepalive_timeouts"))
                .flatMap(m -> ((CounterSnapshot) m).getDataPoints().stream())
                .filter(d -> peer.equals(d.getLabels().get("peer"))).mapToDouble(d -> d.getValue()).sum();
    }
}
