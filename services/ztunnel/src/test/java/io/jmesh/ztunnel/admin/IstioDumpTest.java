package io.jmesh.ztunnel.admin;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.UInt32Value;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NamespacedHostname;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadType;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The dump's entries in the shape of Istio's ztunnel dump, field by field as {@code istioctl ztunnel-config} decodes
 * them (its {@code ZtunnelWorkload}, {@code ZtunnelService}, {@code ZtunnelPolicy} types): lists where it has lists,
 * maps where it has maps, enums spelt as Istio's.
 */
class IstioDumpTest {

    static final Workload REVIEWS = Workload.newBuilder().setUid("Kubernetes//Pod/shop/reviews-v1-x2x7q")
            .setName("reviews-v1-x2x7q").setNamespace("shop").setServiceAccount("reviews").setNode("node-a")
            .addAddresses(ByteString.copyFrom(new byte[] {10, (byte) 244, 1, 5}))
            .setTunnelProtocol(TunnelProtocol.HBONE).setWorkloadType(WorkloadType.POD).setWorkloadName("reviews-v1")
            .setCanonicalName("reviews").setCanonicalRevision("v1").setCapacity(UInt32Value.of(2))
            .setWaypoint(GatewayAddress.newBuilder().setHostname(NamespacedHostname.newBuilder().setNamespace("shop")
                    .setHostname("waypoint.shop.svc.cluster.local")).setHboneMtlsPort(15008))
            .addAuthorizationPolicies("shop/allow-productpage")
            .putServices("shop/reviews.shop.svc.cluster.local", PortList.newBuilder()
                    .addPorts(Port.newBuilder().setServicePort(9080).setTargetPort(8080)).build())
            .build();

    @Test
    void aWorkloadHasIstiosFieldsAndSpelling() {
        JsonObject w = IstioDump.workload(REVIEWS);
        assertThat(w.getJsonArray("workloadIps").getList()).containsExactly("10.244.1.5");
        assertThat(w.getString("protocol")).isEqualTo("HBONE");
        assertThat(w.getString("networkMode")).isEqualTo("Standard");
        assertThat(w.getString("workloadType")).isEqualTo("pod");
        assertThat(w.getString("status")).isEqualTo("Healthy");
        assertThat(w.getString("trustDomain")).as("Istio's default").isEqualTo("cluster.local");
        assertThat(w.getString("clusterId")).as("Istio's default").isEqualTo("Kubernetes");
        assertThat(w.getInteger("capacity")).isEqualTo(2);
        assertThat(w.getJsonObject("waypoint").getString("destination"))
                .isEqualTo("shop/waypoint.shop.svc.cluster.local");
        assertThat(w.getJsonArray("services").getList()).containsExactly("shop/reviews.shop.svc.cluster.local");
        assertThat(w.getJsonArray("authorizationPolicies").getList()).containsExactly("shop/allow-productpage");
        assertThat(w.containsKey("networkGateway")).isFalse();
    }

    @Test
    void aServiceHasItsVipsPortsAsAMapAndItsEndpointsByUid() {
        Service reviews = Service.newBuilder().setName("reviews").setNamespace("shop")
                .setHostname("reviews.shop.svc.cluster.local")
                .addAddresses(NetworkAddress.newBuilder().setNetwork("net-a")
                        .setAddress(ByteString.copyFrom(new byte[] {10, 96, 0, 10})))
                .addPorts(Port.newBuilder().setServicePort(9080).setTargetPort(8080))
                .setLoadBalancing(LoadBalancing.newBuilder().setMode(LoadBalancing.Mode.FAILOVER)
                        .addRoutingPreference(LoadBalancing.Scope.REGION)
                        .addRoutingPreference(LoadBalancing.Scope.ZONE))
                .build();
        Map<String, JsonObject> endpoints = IstioDump.endpoints(List.of(REVIEWS));
        JsonObject s = IstioDump.service(reviews, endpoints.get("shop/reviews.shop.svc.cluster.local"));
        assertThat(s.getJsonArray("vips").getList()).containsExactly("net-a/10.96.0.10");
        assertThat(s.getJsonObject("ports").getMap()).containsExactly(Map.entry("9080", 8080));
        JsonObject endpoint = s.getJsonObject("endpoints").getJsonObject(REVIEWS.getUid());
        assertThat(endpoint.getString("workloadUid")).isEqualTo(REVIEWS.getUid());
        assertThat(endpoint.getJsonObject("port").getMap()).containsExactly(Map.entry("9080", 8080));
        assertThat(endpoint.getString("status")).isEqualTo("Healthy");
        JsonObject lb = s.getJsonObject("loadBalancer");
        assertThat(lb.getString("mode")).isEqualTo("Failover");
        assertThat(lb.getJsonArray("routingPreferences").getList()).containsExactly("Region", "Zone");
        assertThat(lb.getString("healthPolicy")).isEqualTo("OnlyHealthy");
    }

    @Test
    void aPolicyNestsRulesClausesAndMatchesAsLists() {
        Authorization strict = Authorization.newBuilder().setName("istio_converted_static_strict")
                .setNamespace("istio-system").setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()))
                        .addNamespaces(StringMatch.newBuilder().setExact("shop"))
                        .addSourceIps(io.jmesh.proto.istio.security.Address.newBuilder()
                                .setAddress(ByteString.copyFrom(new byte[] {10, 0, 0, 0})).setLength(8))
                        .addDestinationPorts(9080))))
                .build();
        JsonObject p = IstioDump.policy(strict);
        assertThat(p.getString("scope")).isEqualTo("WorkloadSelector");
        assertThat(p.getString("action")).isEqualTo("Deny");
        JsonArray rules = p.getJsonArray("rules");
        JsonObject match = rules.getJsonArray(0).getJsonArray(0).getJsonObject(0);
        assertThat(match.getJsonArray("notPrincipals").getJsonObject(0).containsKey("Presence")).isTrue();
        assertThat(match.getJsonArray("namespaces").getJsonObject(0).getString("Exact")).isEqualTo("shop");
        assertThat(match.getJsonArray("sourceIps").getList()).containsExactly("10.0.0.0/8");
        assertThat(match.getJsonArray("destinationPorts").getList()).containsExactly(9080);
        assertThat(match.containsKey("principals")).as("empty lists are left out").isFalse();
    }
}
