package io.jmesh.policy.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.LoadBalancing.HealthPolicy;
import io.jmesh.proto.istio.workload.LoadBalancing.Mode;
import io.jmesh.proto.istio.workload.LoadBalancing.Scope;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Service YAML → the {@code Service.load_balancing} ztunnel receives, and WorkloadEntry YAML → {@code
 * Workload.locality}, through the same reader and state builder the discovery server uses.
 */
class LoadBalancingTranslationTest {

    static final LoadBalancing SAME_ZONE = lb(Mode.FAILOVER, HealthPolicy.ONLY_HEALTHY,
            Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE);
    static final LoadBalancing SAME_NODE = lb(Mode.FAILOVER, HealthPolicy.ONLY_HEALTHY,
            Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE, Scope.NODE);
    static final LoadBalancing NODE_LOCAL = lb(Mode.STRICT, HealthPolicy.ONLY_HEALTHY, Scope.NODE);

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local",
            "Kubernetes", "cluster.local"));

    static Stream<Arguments> services() {
        return Stream.of(
                row("no settings: no load_balancing (any healthy endpoint)", "", "", "", null),
                row("spec PreferClose (Kubernetes' older name)", "", "trafficDistribution: PreferClose", "",
                        SAME_ZONE),
                row("spec PreferSameZone", "", "trafficDistribution: PreferSameZone", "", SAME_ZONE),
                row("spec PreferSameNode", "", "trafficDistribution: PreferSameNode", "", SAME_NODE),
                row("annotation, any case", "{networking.istio.io/traffic-distribution: preferclose}", "", "",
                        SAME_ZONE),
                row("annotation PreferSameNode", "{networking.istio.io/traffic-distribution: PreferSameNode}", "",
                        "", SAME_NODE),
                row("spec wins over the annotation", "{networking.istio.io/traffic-distribution: PreferSameNode}",
                        "trafficDistribution: PreferSameZone", "", SAME_ZONE),
                row("namespace annotation is inherited", "", "", "PreferSameNode", SAME_NODE),
                row("service annotation wins over the namespace's",
                        "{networking.istio.io/traffic-distribution: PreferSameZone}", "", "PreferSameNode", SAME_ZONE),
                row("spec wins over the namespace's", "", "trafficDistribution: PreferSameZone", "PreferSameNode",
                        SAME_ZONE),
                row("internalTrafficPolicy Local: only the client's node (STRICT)", "",
                        "internalTrafficPolicy: Local", "", NODE_LOCAL),
                row("internalTrafficPolicy Local wins over trafficDistribution", "",
                        "internalTrafficPolicy: Local\n  trafficDistribution: PreferSameZone", "PreferSameNode",
                        NODE_LOCAL),
                row("internalTrafficPolicy Cluster changes nothing", "", "internalTrafficPolicy: Cluster", "", null),
                row("publishNotReadyAddresses alone: ALLOW_ALL", "", "publishNotReadyAddresses: true", "",
                        lb(Mode.UNSPECIFIED_MODE, HealthPolicy.ALLOW_ALL)),
                row("publishNotReadyAddresses with PreferSameNode", "",
                        "publishNotReadyAddresses: true\n  trafficDistribution: PreferSameNode", "",
                        SAME_NODE.toBuilder().setHealthPolicy(HealthPolicy.ALLOW_ALL).build()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("services")
    void serviceSettingsBecomeLoadBalancing(String name, String annotations, String specExtra,
            String namespaceAnnotation, LoadBalancing expected) throws Exception {
        String yaml = """
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop%s}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: reviews, namespace: shop%s}
                spec:
                  selector: {app: reviews}
                  clusterIP: 10.96.0.10
                  ports: [{port: 80}]
                  %s
                """.formatted(
                namespaceAnnotation.isEmpty() ? ""
                        : ", annotations: {networking.istio.io/traffic-distribution: " + namespaceAnnotation + "}",
                annotations.isEmpty() ? "" : ", annotations: " + annotations, specExtra);
        Service s = service(state(yaml), "shop/reviews.shop.svc.cluster.local");
        if (expected == null) {
            assertThat(s.hasLoadBalancing()).as("no load_balancing").isFalse();
        } else {
            assertThat(s.getLoadBalancing()).isEqualTo(expected);
        }
    }

    @Test
    void workloadLocalityFromSpecElseFromTopologyLabels() throws Exception {
        MeshState s = state("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: spec-locality, namespace: shop}
                spec: {address: 10.0.0.1, locality: eu/west, node: node-a}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: labelled, namespace: shop}
                spec:
                  address: 10.0.0.2
                  node: node-b
                  labels: {topology.kubernetes.io/region: us, topology.kubernetes.io/zone: us-east-1a,
                           topology.istio.io/subzone: rack-7}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: nowhere, namespace: shop}
                spec: {address: 10.0.0.3}
                """);
        Workload spec = workload(s, "spec-locality");
        assertThat(List.of(spec.getLocality().getRegion(), spec.getLocality().getZone(),
                spec.getLocality().getSubzone())).containsExactly("eu", "west", "");
        Workload labelled = workload(s, "labelled");
        assertThat(List.of(labelled.getLocality().getRegion(), labelled.getLocality().getZone(),
                labelled.getLocality().getSubzone())).containsExactly("us", "us-east-1a", "rack-7");
        assertThat(labelled.getNode()).isEqualTo("node-b");
        assertThat(labelled.getClusterId()).isEqualTo("Kubernetes");
        assertThat(workload(s, "nowhere").hasLocality()).isFalse();
    }

    @Test
    void aNamespaceAnnotationChangeRebuildsItsServices() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        add(records, """
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: reviews, namespace: shop}
                spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{port: 80}]}
                """);
        MeshState before = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        assertThat(service(before, "shop/reviews.shop.svc.cluster.local").hasLoadBalancing()).isFalse();
        add(records, """
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop, annotations: {networking.istio.io/traffic-distribution: PreferSameZone}}
                """);
        MeshState after = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        assertThat(service(after, "shop/reviews.shop.svc.cluster.local").getLoadBalancing()).isEqualTo(SAME_ZONE);
        assertThat(after.addressesChangedSince(before.generation()))
                .containsExactly("shop/reviews.shop.svc.cluster.local");
    }

    MeshState state(String manifests) {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        add(records, manifests);
        return builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
    }

    void add(TreeMap<ConfigKey, ConfigRecord> records, String manifests) {
        for (ParsedObject o : reader.read(manifests)) {
            assertThat(o.errors()).as(o.describe()).isEmpty();
            records.put(o.key(), o.record());
        }
    }

    static Service service(MeshState s, String name) throws Exception {
        return Address.parseFrom(s.addresses().get(name).body().getValue()).getService();
    }

    static Workload workload(MeshState s, String name) throws Exception {
        return Address.parseFrom(s.addresses().get("Kubernetes/networking.istio.io/WorkloadEntry/shop/" + name)
                .body().getValue()).getWorkload();
    }

    static LoadBalancing lb(Mode mode, HealthPolicy health, Scope... scopes) {
        return LoadBalancing.newBuilder().addAllRoutingPreference(List.of(scopes)).setMode(mode)
                .setHealthPolicy(health).build();
    }

    static Arguments row(String name, String annotations, String specExtra, String namespaceAnnotation,
            LoadBalancing expected) {
        return Arguments.of(name, annotations, specExtra, namespaceAnnotation, expected);
    }
}
