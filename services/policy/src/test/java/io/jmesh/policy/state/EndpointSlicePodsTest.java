package io.jmesh.policy.state;

import static io.jmesh.policy.state.MeshStateBuilderTest.BASE;
import static io.jmesh.policy.state.MeshStateBuilderTest.DB_PODS;
import static io.jmesh.policy.state.MeshStateBuilderTest.LEGACY;
import static io.jmesh.policy.state.MeshStateBuilderTest.SETTINGS;
import static io.jmesh.policy.state.MeshStateBuilderTest.build;
import static io.jmesh.policy.state.MeshStateBuilderTest.portsOf;
import static io.jmesh.policy.state.MeshStateBuilderTest.workloadWithUid;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.proto.istio.workload.Workload;
import org.junit.jupiter.api.Test;

/**
 * The pods an EndpointSlice names by {@code targetRef} get its Service as istiod gives it
 * ({@code matchingServicesWithoutSelectors}): istiod indexes slices by the reference's kind, namespace, name and uid and
 * looks a pod up by its own, so only a reference naming all four reaches a pod, in whatever namespace it runs; the
 * Service is the one of the slice's namespace.
 */
class EndpointSlicePodsTest {

    static final String POD = "Kubernetes//Pod/shop/";
    static final String DB_0_UID = "6f1c2d3e-0000-4000-8000-000000000001";
    static final String OTHER_LEGACY = "other/legacy-db.other.svc.cluster.local";

    final ManifestReader reader = new ManifestReader("istio-system");

    MeshState state(MeshStateBuilder builder, String... manifests) {
        return build(reader, builder, s -> { }, manifests);
    }

    static String slice(String ns, String name, String service, String... targetRefs) {
        StringBuilder b = new StringBuilder("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                + "metadata: {name: " + name + ", namespace: " + ns + ", labels: {kubernetes.io/service-name: "
                + service + "}}\naddressType: IPv4\nendpoints:\n");
        int i = 5;
        for (String ref : targetRefs) {
            b.append("- addresses: [10.244.9.").append(i++).append("]\n  targetRef: {kind: Pod, ").append(ref)
                    .append("}\n");
        }
        return b.append("ports: [{name: sql, port: 5432, protocol: TCP}]\n").toString();
    }

    static final String OTHER = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: other}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: legacy-db, namespace: other}
            spec:
              clusterIP: 10.96.0.30
              ports: [{name: sql, port: 5432, targetPort: 25432}]
            ---
            """;

    @Test
    void aTargetRefWithoutUidOrNamespaceReachesNoPod() throws Exception {
        MeshState s = state(new MeshStateBuilder(SETTINGS), BASE, DB_PODS, slice("shop", "legacy-db-1", "legacy-db",
                "name: db-0, uid: " + DB_0_UID, "namespace: shop, name: db-0"));
        assertThat(workloadWithUid(s, POD + "db-0").getServicesMap()).as("one names no namespace, one no uid")
                .isEmpty();
        assertThat(s.addresses()).as("nor is either endpoint a workload of the slice: a pod's, as in istiod")
                .doesNotContainKey("Kubernetes/discovery.k8s.io/EndpointSlice/shop/legacy-db-1/10.244.9.5");
    }

    @Test
    void aSliceReachesItsPodInAnotherNamespaceWithItsOwnNamespacesService() throws Exception {
        MeshState s = state(new MeshStateBuilder(SETTINGS), BASE, DB_PODS, OTHER, slice("other", "legacy-db-1",
                "legacy-db", "namespace: shop, name: db-0, uid: " + DB_0_UID));
        Workload db0 = workloadWithUid(s, POD + "db-0");
        assertThat(db0.getServicesMap()).containsOnlyKeys(OTHER_LEGACY);
        assertThat(portsOf(db0, OTHER_LEGACY)).containsExactly("5432->25432");
        assertThat(s.endpointNamesOf(OTHER_LEGACY)).as("on demand, the service brings the pod along")
                .containsExactly(POD + "db-0");
    }

    @Test
    void aSliceOrServiceChangingInAnotherNamespaceRecomputesThePodsNamespace() throws Exception {
        MeshStateBuilder builder = new MeshStateBuilder(SETTINGS);
        String slice = slice("other", "legacy-db-1", "legacy-db", "namespace: shop, name: db-0, uid: " + DB_0_UID);
        MeshState without = state(builder, BASE, DB_PODS, OTHER);
        assertThat(workloadWithUid(without, POD + "db-0").getServicesMap()).isEmpty();
        MeshState with = state(builder, BASE, DB_PODS, OTHER, slice);
        assertThat(workloadWithUid(with, POD + "db-0").getServicesMap()).containsOnlyKeys(OTHER_LEGACY);
        MeshState moved = state(builder, BASE, DB_PODS, OTHER.replace("targetPort: 25432", "targetPort: 35432"),
                slice);
        assertThat(portsOf(workloadWithUid(moved, POD + "db-0"), OTHER_LEGACY)).containsExactly("5432->35432");
        MeshState gone = state(builder, BASE, DB_PODS, OTHER);
        assertThat(workloadWithUid(gone, POD + "db-0").getServicesMap()).isEmpty();
        assertThat(gone.addresses().get(POD + "db-0").version())
                .isEqualTo(without.addresses().get(POD + "db-0").version());
    }
}
