package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.policy.state.MeshState;
import io.jmesh.ztunnel.testing.PolicyManifests;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.DeltaAdsClient;
import io.jmesh.ztunnel.discovery.RetainedPolicies;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.FixedDraw;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Locality load balancing from end to end without a mesh on the wire: Kubernetes-shaped manifests go through
 * policy's own reader and translator; the resulting {@code istio.workload.Address} resources are pushed over a real
 * delta ADS stream (a minimal server on 127.0.0.1, an ephemeral port) to ztunnel's {@link DeltaAdsClient}; then
 * ztunnel's router picks endpoints for a client on node-a, with fixed draws, and its outbound proxy refuses (logs,
 * counts) what STRICT leaves without an endpoint.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LocalityFromManifestsTest {

    static final String MANIFESTS = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: sleep, namespace: shop}
            spec: {address: 10.1.0.1, node: node-a, locality: eu/west/a, labels: {app: sleep}, serviceAccount: sleep}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: reviews-near, namespace: shop}
            spec: {address: 10.2.0.1, node: node-b, locality: eu/west/a, labels: {app: reviews}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: reviews-far, namespace: shop}
            spec:
              address: 10.3.0.1
              node: node-c
              weight: 100
              labels: {app: reviews, topology.kubernetes.io/region: us, topology.kubernetes.io/zone: us-east-1a}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: ratings-local, namespace: shop}
            spec: {address: 10.1.0.2, node: node-a, locality: eu/west/a, labels: {app: ratings}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: ratings-remote, namespace: shop}
            spec: {address: 10.2.0.2, node: node-b, locality: eu/west/a, labels: {app: ratings}, weight: 50}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: cache-b, namespace: shop}
            spec: {address: 10.2.0.3, node: node-b, locality: eu/west/a, labels: {app: cache}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: reviews, namespace: shop}
            spec:
              selector: {app: reviews}
              clusterIP: 10.96.0.1
              ports: [{port: 9080}]
              trafficDistribution: PreferClose
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: reviews-anywhere, namespace: shop}
            spec: {selector: {app: reviews}, clusterIP: 10.96.0.4, ports: [{port: 9080}]}
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: ratings
              namespace: shop
              annotations: {networking.istio.io/traffic-distribution: PreferSameNode}
            spec: {selector: {app: ratings}, clusterIP: 10.96.0.2, ports: [{port: 9080}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: cache, namespace: shop}
            spec:
              selector: {app: cache}
              clusterIP: 10.96.0.3
              ports: [{port: 6379}]
              internalTrafficPolicy: Local
            """;

    static Vertx vertx;
    static HttpServer http;
    static DeltaAdsClient client;
    static final WorkloadStore store = new WorkloadStore();
    static final ConcurrentLinkedQueue<DeltaDiscoveryRequest> received = new ConcurrentLinkedQueue<>();
    static final AtomicReference<GrpcServerResponse<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> stream =
            new AtomicReference<>();
    static ZtunnelConfig config;
    static int pushed;

    @BeforeAll
    static void translateAndPush() throws Exception {
        // policy: manifests -> validated records -> the Address resources every ztunnel gets
        MeshState state = PolicyManifests.state(MANIFESTS);
        List<Resource> resources = new ArrayList<>();
        state.addresses().values().forEach(r -> resources.add(r.wire()));
        pushed = resources.size();

        // the wire: a minimal delta ADS server, ztunnel's real client
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> {
            stream.set(call.response());
            call.handler(received::add);
        });
        http = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null,
                Map.of("MESH_NODE_NAME", "node-a")).config();
        client = new DeltaAdsClient(vertx, GrpcClient.client(vertx),
                SocketAddress.inetSocketAddress(http.actualPort(), "127.0.0.1"), () -> "node-a-token", config, store,
                new RetainedPolicies(), new PrometheusRegistry());
        client.start();
        await().until(() -> stream.get() != null);
        vertx.runOnContext(v -> stream.get().write(DeltaDiscoveryResponse.newBuilder()
                .setTypeUrl(DeltaAdsClient.ADDRESS_TYPE).setNonce("n1").addAllResources(resources).build()));
        await().until(() -> received.stream().anyMatch(r -> "n1".equals(r.getResponseNonce())));
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.stop();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void everyResourceWasAcceptedWithItsLoadBalancing() throws Exception {
        DeltaDiscoveryRequest ack = received.stream().filter(r -> "n1".equals(r.getResponseNonce())).findFirst()
                .orElseThrow();
        assertThat(ack.hasErrorDetail()).as(ack.getErrorDetail().getMessage()).isFalse();
        assertThat(store.current().resources()).hasSize(pushed);
        LoadBalancing reviews = store.current().serviceByVip(InetAddress.getByName("10.96.0.1")).getLoadBalancing();
        assertThat(reviews.getMode()).isEqualTo(LoadBalancing.Mode.FAILOVER);
        assertThat(reviews.getRoutingPreferenceList()).containsExactly(LoadBalancing.Scope.NETWORK,
                LoadBalancing.Scope.REGION, LoadBalancing.Scope.ZONE, LoadBalancing.Scope.SUBZONE);
    }

    @Test
    void preferCloseKeepsTrafficInTheClientsZoneWhateverTheFarEndpointsCapacity() {
        // reviews-far has capacity 100 against 1, but is in another region
        assertThat(reachable("sleep", "10.96.0.1", 9080)).containsExactly("reviews-near");
        // the same endpoints behind a service without settings: weighted by capacity across both
        assertThat(reachable("sleep", "10.96.0.4", 9080)).containsExactly("reviews-far", "reviews-near");
        assertThat(uid(route("sleep", "10.96.0.4", 9080, 99))).isEqualTo("reviews-far");
        assertThat(uid(route("sleep", "10.96.0.4", 9080, 100))).isEqualTo("reviews-near");
    }

    @Test
    void preferSameNodeAnnotationKeepsTrafficOnTheClientsNode() {
        assertThat(reachable("sleep", "10.96.0.2", 9080)).containsExactly("ratings-local");
        // from node-b the endpoint on node-b is the closest
        assertThat(reachable("reviews-near", "10.96.0.2", 9080)).containsExactly("ratings-remote");
    }

    @Test
    void internalTrafficPolicyLocalRefusesWhenTheClientsNodeHasNoEndpoint() {
        Route r = route("sleep", "10.96.0.3", 6379, 0);
        assertThat(r).isInstanceOfSatisfying(Route.Reject.class, reject -> {
            assertThat(reject.reason()).isEqualTo("no_endpoint_in_locality");
            assertThat(reject.detail()).isEqualTo("service shop/cache.shop.svc.cluster.local has 1 healthy"
                    + " endpoint(s) for port 6379 but none in the source's locality (load_balancing STRICT, source"
                    + " NODE='node-a')");
        });
        assertThat(reachable("reviews-near", "10.96.0.3", 6379)).containsExactly("cache-b");
    }

    @Test
    void theOutboundProxyLogsAndCountsTheStrictRefusal() {
        ConnectionTelemetry telemetry = new ConnectionTelemetry(new PrometheusRegistry(), null, false, "node-a");
        OutboundProxy proxy = new OutboundProxy(config, store, null, null, telemetry, null);
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        List<String> failures = new ArrayList<>();
        EmbeddedChannel app = new EmbeddedChannel() {
            @Override
            public java.net.SocketAddress remoteAddress() {
                return new InetSocketAddress("10.1.0.1", 40000);
            }
        };
        try {
            proxy.proxy(app, workload("sleep"), "10.96.0.3", 6379, new ArrayList<>(), new OutboundProxy.Outcome() {
                @Override
                public void established(Channel client, Runnable startRelay) {
                    failures.add("established");
                }

                @Override
                public void failed(Channel client, String reason, String detail) {
                    failures.add(reason);
                }
            });
        } finally {
            access.detachAppender(lines);
            app.finishAndReleaseAll();
        }
        assertThat(failures).containsExactly("no_endpoint_in_locality");
        assertThat(telemetry.rejections(true, "no_endpoint_in_locality")).isEqualTo(1.0);
        assertThat(lines.list).singleElement().satisfies(e -> {
            assertThat(e.getFormattedMessage()).isEqualTo("connection failed");
            assertThat(e.getKeyValuePairs()).extracting(kv -> kv.key + "=" + kv.value).contains(
                    "src.addr=10.1.0.1:40000", "dst.addr=10.96.0.3:6379", "reason=no_endpoint_in_locality",
                    "error=service shop/cache.shop.svc.cluster.local has 1 healthy endpoint(s) for port 6379 but none"
                            + " in the source's locality (load_balancing STRICT, source NODE='node-a')");
        });
    }

    static Workload workload(String name) {
        return store.current().workloadByUid("Kubernetes/networking.istio.io/WorkloadEntry/shop/" + name);
    }

    static Route route(String source, String host, int port, long draw) {
        return new OutboundRouter(config, () -> FixedDraw.of(draw)).route(store.current(), workload(source), host,
                port);
    }

    static String uid(Route r) {
        String uid = ((Route.Hbone) r).destination().getUid();
        return uid.substring(uid.lastIndexOf('/') + 1);
    }

    /** Every endpoint some draw sends {@code source}'s connection to. */
    static TreeSet<String> reachable(String source, String host, int port) {
        FixedDraw probe = FixedDraw.of(0);
        Route first = new OutboundRouter(config, () -> probe).route(store.current(), workload(source), host, port);
        TreeSet<String> out = new TreeSet<>();
        out.add(uid(first));
        for (long d = 1; d < probe.span(); d++) {
            out.add(uid(route(source, host, port, d)));
        }
        return out;
    }
}
