package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Workload;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.streams.WriteStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The diff logic of one stream, without a network: snapshot, deltas, the fall back to a full pass. */
class AdsStreamTest {

    static final String UID = "Kubernetes/networking.istio.io/WorkloadEntry/shop/";

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local",
            "Kubernetes", "cluster.local"));
    final TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
    final Captured out = new Captured();

    /** A write stream that keeps what it is given. */
    static class Captured implements WriteStream<DeltaDiscoveryResponse> {
        final List<DeltaDiscoveryResponse> written = new ArrayList<>();

        @Override
        public Future<Void> write(DeltaDiscoveryResponse data) {
            written.add(data);
            return Future.succeededFuture();
        }

        @Override
        public Future<Void> end() {
            return Future.succeededFuture();
        }

        @Override
        public WriteStream<DeltaDiscoveryResponse> setWriteQueueMaxSize(int maxSize) {
            return this;
        }

        @Override
        public boolean writeQueueFull() {
            return false;
        }

        @Override
        public WriteStream<DeltaDiscoveryResponse> drainHandler(Handler<Void> handler) {
            return this;
        }

        @Override
        public WriteStream<DeltaDiscoveryResponse> exceptionHandler(Handler<Throwable> handler) {
            return this;
        }

        DeltaDiscoveryResponse last() {
            return written.get(written.size() - 1);
        }
    }

    MeshState workloads(int count) {
        StringBuilder yaml = new StringBuilder();
        for (int i = 0; i < count; i++) {
            yaml.append("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w").append(i)
                    .append(", namespace: shop}\nspec: {address: 127.0.10.").append(i + 1).append(", node: node-a}\n---\n");
        }
        records.keySet().removeIf(k -> k.kind().equals("WorkloadEntry"));
        reader.read(yaml.toString()).forEach(o -> records.put(o.key(), o.record()));
        return builder.build(new ConfigSnapshot(records, Map.of()), s -> { });
    }

    void ack(AdsStream s) {
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .setResponseNonce(out.last().getNonce()).build());
    }

    static List<String> names(DeltaDiscoveryResponse r) {
        return r.getResourcesList().stream().map(x -> x.getName()).toList();
    }

    /**
     * A NACK of a response already superseded (a duplicate, or a client that answers late) is logged and counted as
     * istiod counts every NACK, and changes nothing: the newer response still awaits its own answer.
     */
    @Test
    void aNackOfASupersededResponseIsCountedAndChangesNothing() {
        PrometheusRegistry registry = new PrometheusRegistry();
        AdsStream s = new AdsStream(null, out, "node-a", workloads(5), new AdsMetrics(registry), 2);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        String first = out.last().getNonce();
        ack(s);
        int sent = out.written.size();
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).setResponseNonce(first)
                .setErrorDetail(io.jmesh.proto.google.rpc.Status.newBuilder().setCode(3).setMessage("late")).build());
        assertThat(registry.scrape().stream().filter(m -> m.getMetadata().getName().equals("policy_xds_nacks"))
                .flatMap(m -> m.getDataPoints().stream())
                .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d)
                        .getValue()).sum()).isEqualTo(1);
        assertThat(out.written).hasSize(sent);
        ack(s); // the pending response's own ACK still moves the snapshot on
        assertThat(names(out.last())).containsExactly(UID + "w4");
    }

    /**
     * A stream's initial sync (what its admission place is held for) is through once the last part of each type's
     * first configuration is answered, an ACK or a NACK; a partial response's ACK is not enough, nor is Address
     * alone while Authorization is not answered. Told once.
     */
    @Test
    void theInitialSyncIsThroughOnceTheLastPartOfEveryTypeIsAnswered() {
        int[] told = {0};
        AdsStream s = new AdsStream(null, out, "node-a", workloads(3), new AdsMetrics(new PrometheusRegistry()), 2);
        s.onInitialSync(() -> told[0]++);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .putInitialResourceVersions(UID + "w0", "old").build());
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION).build());
        String authorization = out.last().getNonce();
        String firstPart = out.written.get(0).getNonce();
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).setResponseNonce(firstPart)
                .build());
        assertThat(told[0]).as("after the first of two parts").isZero();
        assertThat(out.last().getTypeUrl()).isEqualTo(TypeUrls.ADDRESS);
        // the last Address part, rejected
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .setResponseNonce(out.last().getNonce())
                .setErrorDetail(io.jmesh.proto.google.rpc.Status.newBuilder().setCode(3).setMessage("no")).build());
        assertThat(told[0]).as("Authorization not answered yet").isZero();
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION)
                .setResponseNonce(authorization).build());
        assertThat(told[0]).isEqualTo(1);
        s.onState(workloads(4));
        assertThat(names(out.last())).containsExactly(UID + "w3");
        ack(s);
        assertThat(told[0]).as("told once").isEqualTo(1);
    }

    @Test
    void snapshotInPartsThenSmallDeltasThenAFullPassWhenTooMuchChanged() {
        MeshState five = workloads(5);
        AdsStream s = new AdsStream(null, out, "node-a", five, new AdsMetrics(new PrometheusRegistry()), 2);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        // 5 addresses, 2 per response, each part after an ACK
        assertThat(names(out.last())).containsExactly(UID + "w0", UID + "w1");
        ack(s);
        assertThat(names(out.last())).containsExactly(UID + "w2", UID + "w3");
        ack(s);
        assertThat(names(out.last())).containsExactly(UID + "w4");
        ack(s);
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
        int sent = out.written.size();

        // one workload gone: a delta with just the removal
        MeshState four = workloads(4);
        s.onState(four);
        assertThat(out.written).hasSize(sent + 1);
        assertThat(out.last().getResourcesList()).isEmpty();
        assertThat(out.last().getRemovedResourcesList()).containsExactly(UID + "w4");
        ack(s);

        // nothing changed: nothing sent
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        assertThat(out.written).hasSize(sent + 1);

        // more changes than one response holds: a full pass against what the client holds, by cursor
        records.keySet().removeIf(k -> k.kind().equals("WorkloadEntry"));
        StringBuilder yaml = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            yaml.append("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w").append(i)
                    .append(", namespace: shop}\nspec: {address: 127.0.11.").append(i + 1).append(", node: node-a}\n---\n");
        }
        reader.read(yaml.toString()).forEach(o -> records.put(o.key(), o.record()));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        List<String> resent = new ArrayList<>(names(out.last()));
        ack(s);
        resent.addAll(names(out.last()));
        assertThat(resent).containsExactly(UID + "w0", UID + "w1", UID + "w2", UID + "w3");
        ack(s);
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
    }

    @Test
    void aSandwichedWaypointsInstanceReachesTheZtunnelWithItsApplicationTunnel() throws Exception {
        String waypoint = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata:
                  name: waypoint-1
                  namespace: shop
                  labels: {gateway.networking.k8s.io/gateway-name: waypoint}
                spec: {address: 127.0.10.20, node: node-a}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop}
                spec: {gatewayClassName: sandwiched}
                """;
        reader.read(waypoint + "---\n" + sandwiched(15088)).forEach(o -> records.put(o.key(), o.record()));
        AdsStream s = new AdsStream(null, out, "node-a", builder.build(new ConfigSnapshot(records, Map.of()), x -> { }),
                new AdsMetrics(new PrometheusRegistry()), 10);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        assertThat(tunnelIn(out.last())).isEqualTo(ApplicationTunnel.newBuilder()
                .setProtocol(ApplicationTunnel.Protocol.PROXY).setPort(15088).build());
        ack(s);

        // the class's annotation changes: the instance is pushed again, with the new port
        reader.read(sandwiched(15099)).forEach(o -> records.put(o.key(), o.record()));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        assertThat(names(out.last())).containsExactly(UID + "waypoint-1");
        assertThat(tunnelIn(out.last()).getPort()).isEqualTo(15099);
    }

    static String sandwiched(int port) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: sandwiched\n"
                + "  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/" + port + "}\n"
                + "spec: {controllerName: example.com/gateway-controller}\n";
    }

    static ApplicationTunnel tunnelIn(DeltaDiscoveryResponse r) throws Exception {
        assertThat(r.getResourcesList()).singleElement().extracting(x -> x.getName()).isEqualTo(UID + "waypoint-1");
        return Address.parseFrom(r.getResources(0).getResource().getValue()).getWorkload().getApplicationTunnel();
    }

    @Test
    void aNetworksEastWestGatewayReachesTheZtunnelAsTheNetworkGatewayOfItsWorkloads() throws Exception {
        reader.read("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-b, namespace: shop}
                spec: {address: 10.1.0.5, node: node-b, network: net-b}
                """).forEach(o -> records.put(o.key(), o.record()));
        MeshState before = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        AdsStream s = new AdsStream(null, out, "node-a", before, new AdsMetrics(new PrometheusRegistry()), 10);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        ack(s);

        // the gateway appears: the workload on its network is pushed again, now with its network gateway
        reader.read("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: ew, namespace: istio-system, labels: {topology.istio.io/network: net-b}}
                spec:
                  gatewayClassName: istio-east-west
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                  addresses: [{value: 192.0.2.2}]
                """).forEach(o -> records.put(o.key(), o.record()));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        assertThat(names(out.last())).containsExactly(UID + "vm-b");
        Workload pushed = Address.parseFrom(out.last().getResources(0).getResource().getValue()).getWorkload();
        assertThat(pushed.getNetwork()).isEqualTo("net-b");
        assertThat(pushed.getNetworkGateway()).isEqualTo(GatewayAddress.newBuilder()
                .setAddress(NetworkAddress.newBuilder().setNetwork("net-b")
                        .setAddress(ByteString.copyFrom(new byte[] {(byte) 192, 0, 2, 2})))
                .setHboneMtlsPort(15008).build());
    }

    @Test
    void labellingTheRootNamespacePushesTheClustersNetworkToExactlyWhatIsOnIt() throws Exception {
        reader.read("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: west, labels: {topology.istio.io/network: net-b}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: west-1, namespace: west}
                spec: {address: 10.1.0.6, node: node-b}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1, namespace: shop}
                spec: {address: 127.0.10.5, node: node-a}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: reviews, namespace: shop}
                spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{port: 80}]}
                """).forEach(o -> records.put(o.key(), o.record()));
        AdsStream s = new AdsStream(null, out, "node-a", builder.build(new ConfigSnapshot(records, Map.of()), x -> { }),
                new AdsMetrics(new PrometheusRegistry()), 10);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        ack(s);

        reader.read("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: istio-system, labels: {topology.istio.io/network: net-a}}
                """).forEach(o -> records.put(o.key(), o.record()));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        assertThat(names(out.last())).containsExactly(UID + "vm-1", "shop/reviews.shop.svc.cluster.local");
        assertThat(Address.parseFrom(out.last().getResources(0).getResource().getValue()).getWorkload().getNetwork())
                .isEqualTo("net-a");
        assertThat(Address.parseFrom(out.last().getResources(1).getResource().getValue()).getService()
                .getAddresses(0).getNetwork()).isEqualTo("net-a");
    }

    @Test
    void aReconnectingClientGetsOnlyWhatDiffersFromItsInitialVersions() {
        MeshState three = workloads(3);
        AdsStream first = new AdsStream(null, out, "node-a", three, new AdsMetrics(new PrometheusRegistry()), 10);
        first.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        Map<String, String> held = new TreeMap<>();
        out.last().getResourcesList().forEach(r -> held.put(r.getName(), r.getVersion()));
        held.put("shop/gone.shop.svc.cluster.local", "old");
        held.put(UID + "w1", "stale");

        Captured again = new Captured();
        AdsStream second = new AdsStream(null, again, "node-a", three, new AdsMetrics(new PrometheusRegistry()), 10);
        second.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .putAllInitialResourceVersions(held).build());
        assertThat(names(again.last())).containsExactly(UID + "w1");
        assertThat(again.last().getRemovedResourcesList()).containsExactly("shop/gone.shop.svc.cluster.local");
    }

    @Test
    void aWorkloadNewOnTheNodeComesAfterThePoliciesItNeedsNeverBefore() {
        // node-a runs nothing of "shop" yet: it holds none of shop's policies
        reader.read("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: elsewhere, namespace: other}
                spec: {address: 127.0.10.1, node: node-a}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: only-frontend, namespace: shop}
                spec: {rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]}]}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: db-only-app, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/app]}}]}]
                """).forEach(o -> records.put(o.key(), o.record()));
        AdsStream s = new AdsStream(null, out, "node-a", builder.build(new ConfigSnapshot(records, Map.of()), x -> { }),
                new AdsMetrics(new PrometheusRegistry()), 100);
        for (String type : List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION)) {
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).build());
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).setResponseNonce(out.last().getNonce())
                    .build());
        }
        assertThat(out.last().getResourcesList()).isEmpty();
        int before = out.written.size();

        // a shop workload lands on node-a: ztunnel must hold the policies that apply to it before it knows the
        // workload (it skips policy keys it does not know, and it would allow what they forbid meanwhile)
        reader.read("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: db-1, namespace: shop}
                spec: {address: 127.0.10.2, labels: {app: db}, node: node-a}
                """).forEach(o -> records.put(o.key(), o.record()));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));

        List<DeltaDiscoveryResponse> pushed = out.written.subList(before, out.written.size());
        assertThat(pushed).extracting(DeltaDiscoveryResponse::getTypeUrl)
                .containsExactly(TypeUrls.AUTHORIZATION, TypeUrls.ADDRESS);
        assertThat(names(pushed.get(0))).containsExactlyInAnyOrder("shop/only-frontend", "shop/db-only-app");
        assertThat(names(pushed.get(1))).containsExactly(UID + "db-1");
    }

    /**
     * The mirror image of a workload arriving: when the last workload of a node that a policy applies to leaves it
     * (deleted, or moved), the policy still exists but is out of the node's scope. Removing it before the workload
     * would leave ztunnel a moment with the workload local and the policy key unknown (skipped: a DENY not enforced);
     * so the workload goes first, the policy after.
     */
    @Test
    void aPolicyLeavingTheNodesScopeGoesAfterTheWorkloadThatNeededItNeverBefore() {
        reader.read("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: db-1, namespace: shop}
                spec: {address: 127.0.10.2, labels: {app: db}, node: node-a}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: db-deny-curl, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  action: DENY
                  rules: [{from: [{source: {principals: ["*/sa/curl"]}}]}]
                """).forEach(o -> records.put(o.key(), o.record()));
        AdsStream s = new AdsStream(null, out, "node-a", builder.build(new ConfigSnapshot(records, Map.of()), x -> { }),
                new AdsMetrics(new PrometheusRegistry()), 100);
        for (String type : List.of(TypeUrls.AUTHORIZATION, TypeUrls.ADDRESS)) {
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).build());
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).setResponseNonce(out.last().getNonce())
                    .build());
        }
        int before = out.written.size();

        records.remove(new ConfigKey("WorkloadEntry", "shop", "db-1"));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        for (int i = 0; i < 10 && !(s.settled(TypeUrls.ADDRESS) && s.settled(TypeUrls.AUTHORIZATION)); i++) {
            DeltaDiscoveryResponse last = out.last();
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(last.getTypeUrl())
                    .setResponseNonce(last.getNonce()).build());
        }

        List<String> removals = out.written.subList(before, out.written.size()).stream()
                .flatMap(r -> r.getRemovedResourcesList().stream()).toList();
        assertThat(removals).as("removals in the order sent").containsExactly(UID + "db-1", "shop/db-deny-curl");
    }

    @Test
    void aWorkloadNewOnTheNodeWaitsForItsPoliciesWhileAnEarlierPolicyPushAwaitsItsAck() {
        reader.read("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: elsewhere, namespace: other}
                spec: {address: 127.0.10.1, node: node-a}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: only-frontend, namespace: shop}
                spec: {rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]}]}
                """).forEach(o -> records.put(o.key(), o.record()));
        AdsStream s = new AdsStream(null, out, "node-a", builder.build(new ConfigSnapshot(records, Map.of()), x -> { }),
                new AdsMetrics(new PrometheusRegistry()), 100);
        for (String type : List.of(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION)) {
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).build());
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).setResponseNonce(out.last().getNonce())
                    .build());
        }
        // a policy of node-a's own namespace changes: pushed, and its ACK is still on the way
        reader.read("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-all, namespace: other}
                spec: {action: DENY, rules: [{}]}
                """).forEach(o -> records.put(o.key(), o.record()));
        int before = out.written.size();
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        assertThat(out.written.subList(before, out.written.size())).extracting(DeltaDiscoveryResponse::getTypeUrl)
                .containsExactly(TypeUrls.AUTHORIZATION);
        String unacked = out.last().getNonce();

        // meanwhile a shop workload lands on node-a: shop's policies must still reach ztunnel before it
        reader.read("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: db-1, namespace: shop}
                spec: {address: 127.0.10.2, node: node-a}
                """).forEach(o -> records.put(o.key(), o.record()));
        s.onState(builder.build(new ConfigSnapshot(records, Map.of()), x -> { }));
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION).setResponseNonce(unacked)
                .build());
        for (int i = 0; i < 10 && !(s.settled(TypeUrls.ADDRESS) && s.settled(TypeUrls.AUTHORIZATION)); i++) {
            s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(out.last().getTypeUrl())
                    .setResponseNonce(out.last().getNonce()).build());
        }

        List<DeltaDiscoveryResponse> pushed = out.written.subList(before + 1, out.written.size());
        assertThat(pushed).extracting(r -> r.getTypeUrl() + " " + names(r))
                .containsExactly(TypeUrls.AUTHORIZATION + " [shop/only-frontend]",
                        TypeUrls.ADDRESS + " [" + UID + "db-1]");
    }

    @Test
    void aTypeNotServedIsAnsweredEmptyOnceAndCountedAndTheServedOnesGoOn() {
        PrometheusRegistry registry = new PrometheusRegistry();
        AdsStream s = new AdsStream(null, out, "node-a", workloads(1), new AdsMetrics(registry), 10);
        String cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
        // istiod answers a type it serves nothing of (its default generator: "still return an empty response - to
        // not break waiting code"), the names subscribed listed as removed: a client waiting for it goes on
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(cluster).addResourceNamesSubscribe("a")
                .addResourceNamesSubscribe("*").putInitialResourceVersions("b", "1").build());
        assertThat(out.written).hasSize(1);
        DeltaDiscoveryResponse answer = out.last();
        assertThat(answer.getTypeUrl()).isEqualTo(cluster);
        assertThat(answer.getNonce()).isNotEmpty();
        assertThat(answer.getResourcesList()).isEmpty();
        assertThat(answer.getRemovedResourcesList()).containsExactlyInAnyOrder("a", "b");

        // its ACK (or NACK) is not answered again: no ping-pong
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(cluster).setResponseNonce(answer.getNonce())
                .build());
        assertThat(out.written).hasSize(1);
        // a request without a type is a type not served either
        s.onRequest(DeltaDiscoveryRequest.newBuilder().build());
        assertThat(out.written).hasSize(2);
        assertThat(out.last().getTypeUrl()).isEmpty();
        double counted = 0;
        for (var m : registry.scrape()) {
            if (m.getMetadata().getName().equals("policy_xds_unknown_type_requests")
                    && m instanceof io.prometheus.metrics.model.snapshots.CounterSnapshot c) {
                counted = c.getDataPoints().stream().mapToDouble(d -> d.getValue()).sum();
            }
        }
        assertThat(counted).isEqualTo(3);

        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        assertThat(names(out.last())).containsExactly(UID + "w0");
    }

    @Test
    void anAnswerToATypeNotServedWaitsForAFullWriteQueueToDrain() {
        Handler<Void>[] drain = new Handler[1];
        boolean[] full = {true};
        Captured slow = new Captured() {
            @Override
            public boolean writeQueueFull() {
                return full[0];
            }

            @Override
            public WriteStream<DeltaDiscoveryResponse> drainHandler(Handler<Void> handler) {
                drain[0] = handler;
                return this;
            }
        };
        AdsStream s = new AdsStream(null, slow, "node-a", workloads(1), new AdsMetrics(new PrometheusRegistry()), 10);
        String cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(cluster).addResourceNamesSubscribe("a").build());
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(cluster).addResourceNamesSubscribe("b").build());
        assertThat(slow.written).isEmpty();

        full[0] = false;
        drain[0].handle(null);

        assertThat(slow.written).hasSize(1);
        assertThat(slow.last().getTypeUrl()).isEqualTo(cluster);
        assertThat(slow.last().getRemovedResourcesList()).containsExactly("a", "b");
    }

    @Test
    void aFirstRequestCarryingTheNonceOfAnEarlierStreamIsAnsweredAsAFirstRequest() {
        AdsStream s = new AdsStream(null, out, "node-a", workloads(2), new AdsMetrics(new PrometheusRegistry()), 10);
        // the nonce answers a response of the stream before (istiod: no watch yet, so respond whatever the nonce)
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).setResponseNonce("41")
                .putInitialResourceVersions(UID + "gone", "v").build());
        assertThat(out.written).hasSize(1);
        assertThat(names(out.last())).containsExactly(UID + "w0", UID + "w1");
        assertThat(out.last().getRemovedResourcesList()).containsExactly(UID + "gone");
    }

    @Test
    void aWorkloadMovingOffTheNodeTakesItsPoliciesAwayFromThatNodeOnly() {
        String policies = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: only-frontend, namespace: shop}
                spec: {rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]}]}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: db-only-app, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/app]}}]}]
                """;
        String db = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: db-1, namespace: shop}
                spec: {address: 127.0.10.2, labels: {app: db}, node: %s}
                """;
        reader.read(policies + "---\n" + db.formatted("node-a")).forEach(o -> records.put(o.key(), o.record()));
        MeshState before = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        Captured toB = new Captured();
        AdsStream a = new AdsStream(null, out, "node-a", before, new AdsMetrics(new PrometheusRegistry()), 100);
        AdsStream b = new AdsStream(null, toB, "node-b", before, new AdsMetrics(new PrometheusRegistry()), 100);
        a.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION).build());
        b.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION).build());
        assertThat(names(out.last())).containsExactlyInAnyOrder("shop/only-frontend", "shop/db-only-app");
        assertThat(names(toB.last())).isEmpty();
        a.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION)
                .setResponseNonce(out.last().getNonce()).build());
        b.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION)
                .setResponseNonce(toB.last().getNonce()).build());

        reader.read(db.formatted("node-b")).forEach(o -> records.put(o.key(), o.record()));
        MeshState moved = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        a.onState(moved);
        b.onState(moved);
        assertThat(out.last().getResourcesList()).isEmpty();
        assertThat(out.last().getRemovedResourcesList()).containsExactlyInAnyOrder("shop/only-frontend",
                "shop/db-only-app");
        assertThat(names(toB.last())).containsExactlyInAnyOrder("shop/only-frontend", "shop/db-only-app");
    }

    @Test
    void namesSubscribedInTheMiddleOfASnapshotLeaveNothingStaleBehind() {
        AdsStream s = new AdsStream(null, out, "node-a", workloads(5), new AdsMetrics(new PrometheusRegistry()), 2);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        ack(s);
        assertThat(names(out.last())).containsExactly(UID + "w2", UID + "w3");
        // while that part awaits its ACK: w1..w4 go away, and the client subscribes a name besides the wildcard
        s.onState(workloads(1));
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("shop/extra.shop.svc.cluster.local").build());
        for (int i = 0; i < 10 && !s.settled(TypeUrls.ADDRESS); i++) {
            ack(s);
        }
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();

        Map<String, String> client = new TreeMap<>();
        for (DeltaDiscoveryResponse r : out.written) {
            r.getResourcesList().forEach(x -> client.put(x.getName(), x.getVersion()));
            r.getRemovedResourcesList().forEach(client::remove);
        }
        assertThat(client).containsOnlyKeys(UID + "w0");
    }

    /**
     * A full pass sends what the states it walks hold, also addresses added after it began. When more generations
     * than a state remembers go by before the next diff, that diff is a full pass against what the client holds:
     * an address the earlier pass sent, deleted since, must still be removed.
     */
    @Test
    void anAddressAFullPassSentIsRemovedEvenWhenTheChangesSinceAreForgotten() {
        AdsStream s = new AdsStream(null, out, "node-a", workloads(5), new AdsMetrics(new PrometheusRegistry()), 2);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build());
        s.onState(workloads(6)); // w5 appears while the pass is under way
        ack(s);
        ack(s);
        assertThat(names(out.last())).containsExactly(UID + "w4", UID + "w5");
        // before that last part is acknowledged: w5 goes, and more generations pass than a state remembers
        for (int i = 0; i <= MeshState.CHANGE_LOG; i++) {
            s.onState(workloads(5));
        }
        for (int i = 0; i < 10 && !s.settled(TypeUrls.ADDRESS); i++) {
            ack(s);
        }
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();

        Map<String, String> client = new TreeMap<>();
        for (DeltaDiscoveryResponse r : out.written) {
            r.getResourcesList().forEach(x -> client.put(x.getName(), x.getVersion()));
            r.getRemovedResourcesList().forEach(client::remove);
        }
        assertThat(client.keySet()).as("what the client holds").containsExactly(UID + "w0", UID + "w1", UID + "w2",
                UID + "w3", UID + "w4");
    }
}
