package io.jmesh.policy.resource;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.config.v1.EndpointSliceSpec;
import org.junit.jupiter.api.Test;

/** EndpointSlices as the API server serves them ({@code kubectl get endpointslice -o yaml}). */
class EndpointSliceReaderTest {

    final ManifestReader reader = new ManifestReader("istio-system");

    /** The API server's own: no selector behind it, no targetRef. */
    static final String API_SERVER = """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: kubernetes
              namespace: default
              resourceVersion: "201"
              generation: 1
              creationTimestamp: "2026-12-01T10:00:00Z"
              labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
            addressType: IPv4
            endpoints:
            - addresses: [172.18.0.2]
              conditions: {ready: true, serving: true, terminating: false}
            - addresses: [172.18.0.3]
              conditions: {ready: false}
              nodeName: control-plane-2
              zone: eu-west1-b
              hints: {forZones: [{name: eu-west1-b}]}
            ports:
            - {name: https, port: 6443, protocol: TCP}
            - {name: dns, port: 53, protocol: UDP}
            """;

    /** What the EndpointSlice controller writes for a Service with a selector: every endpoint a pod. */
    static final String PODS_ONLY = """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: reviews-x7k2p
              namespace: shop
              labels: {kubernetes.io/service-name: reviews, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
            addressType: IPv4
            endpoints:
            - addresses: [10.244.1.5]
              conditions: {ready: true}
              targetRef: {kind: Pod, namespace: shop, name: reviews-v1-7d4c9-x2x7q, uid: 1}
            ports:
            - {name: http, port: 9080, protocol: TCP}
            """;

    @Test
    void theEndpointsThatAreNotPodsAreReadWithTheirReadinessAndTheSlicesTcpPorts() {
        ParsedObject o = reader.read(API_SERVER).get(0);
        assertThat(o.errors()).isEmpty();
        EndpointSliceSpec spec = o.record().getEndpointSlice();
        assertThat(spec.getService()).isEqualTo("kubernetes");
        assertThat(spec.getEndpointsList()).extracting(e -> e.getAddresses(0) + " " + e.getReady())
                .containsExactly("172.18.0.2 true", "172.18.0.3 false");
        assertThat(spec.getPortsMap()).containsExactly(java.util.Map.entry("https", 6443));
        assertThat(o.record().getKind()).isEqualTo("EndpointSlice");
    }

    @Test
    void aPodsEndpointIsLeftToThePodAndASliceOfPodsOnlyIsNotRegistered() {
        String mixed = PODS_ONLY.replace("    ports:", "").replace("""
                ports:
                - {name: http, port: 9080, protocol: TCP}
                """, """
                - addresses: [192.0.2.10]
                ports:
                - {name: http, port: 9080, protocol: TCP}
                """);
        ParsedObject o = reader.read(mixed).get(0);
        assertThat(o.errors()).isEmpty();
        assertThat(o.record().getEndpointSlice().getEndpointsList()).extracting(e -> e.getAddresses(0))
                .as("absent conditions count as ready").containsExactly("192.0.2.10");
        assertThat(o.record().getEndpointSlice().getEndpoints(0).getReady()).isTrue();

        assertThat(ManifestReader.sliceNotRegistered(PODS_ONLY)).isEqualTo("endpoints: none but pods' in a slice of"
                + " the EndpointSlice controller (the pods its Service selects, each a workload of its own)");
        assertThat(reader.read(PODS_ONLY).get(0).errors()).extracting(Problems.FieldError::path)
                .containsExactly("endpoints");
        assertThat(ManifestReader.sliceNotRegistered(API_SERVER.replace("IPv4", "FQDN")))
                .startsWith("addressType: 'FQDN'");
        assertThat(ManifestReader.sliceNotRegistered(API_SERVER.replace("kubernetes.io/service-name: kubernetes, ",
                ""))).startsWith("metadata.labels.kubernetes.io/service-name: missing");
        assertThat(ManifestReader.sliceNotRegistered(API_SERVER)).isNull();
    }

    /**
     * A Service without a selector whose endpoints are pods: its slice is written by hand, by another controller or by
     * the mirroring of an Endpoints object, never by the EndpointSlice controller. istiod adds such a Service to the
     * workloads of the pods the slice names by targetRef, so the slice is registered for them.
     */
    static final String SELECTORLESS_PODS = """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: legacy-db-1
              namespace: shop
              labels: {kubernetes.io/service-name: legacy-db, endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io}
            addressType: IPv4
            endpoints:
            - addresses: [10.244.1.5]
              conditions: {ready: false}
              targetRef: {kind: Pod, namespace: shop, name: db-0, uid: 6f1c2d3e-0000-4000-8000-000000000001}
            - addresses: [10.244.1.6]
              targetRef: {kind: Pod, name: db-1}
            - addresses: [10.244.1.7]
              targetRef: {kind: Pod, namespace: other, name: db-2}
            ports:
            - {name: sql, port: 5432, protocol: TCP}
            """;

    @Test
    void aSliceOfPodsNotWrittenByTheEndpointSliceControllerKeepsThePodsItNames() {
        assertThat(ManifestReader.sliceNotRegistered(SELECTORLESS_PODS)).isNull();
        assertThat(ManifestReader.sliceNotRegistered(SELECTORLESS_PODS.replace(
                ", endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io", "")))
                .as("written by hand").isNull();
        ParsedObject o = reader.read(SELECTORLESS_PODS).get(0);
        assertThat(o.errors()).isEmpty();
        EndpointSliceSpec spec = o.record().getEndpointSlice();
        assertThat(spec.getService()).isEqualTo("legacy-db");
        assertThat(spec.getEndpointsList()).as("no endpoint of its own: each is a pod's").isEmpty();
        assertThat(spec.getPodsList()).extracting(r -> r.getNamespace() + "/" + r.getName() + "/" + r.getUid())
                .as("as istiod, a targetRef reaches a pod only by namespace, name and uid")
                .containsExactly("shop/db-0/6f1c2d3e-0000-4000-8000-000000000001");
        assertThat(o.warnings()).containsExactly(
                "endpoints[1].targetRef: names no namespace, so no pod (as in istiod, which matches a pod by"
                        + " namespace, name and uid): the endpoint is left out",
                "endpoints[2].targetRef: names no uid, so no pod (as in istiod, which matches a pod by namespace,"
                        + " name and uid): the endpoint is left out");

        String mixed = PODS_ONLY.replace("""
                ports:
                - {name: http, port: 9080, protocol: TCP}
                """, """
                - addresses: [192.0.2.10]
                ports:
                - {name: http, port: 9080, protocol: TCP}
                """);
        assertThat(reader.read(mixed).get(0).record().getEndpointSlice().getPodsList())
                .extracting(r -> r.getName()).as("a mixed slice keeps its pods too")
                .containsExactly("reviews-v1-7d4c9-x2x7q");
        assertThat(ManifestReader.sliceNotRegistered(SELECTORLESS_PODS.replace("IPv4", "FQDN")))
                .startsWith("addressType: 'FQDN'");
    }

    @Test
    void aBadPodReferenceIsRefusedNamingIt() {
        assertThat(reader.read(SELECTORLESS_PODS.replace("name: db-1", "name: DB_1")).get(0).errors())
                .extracting(Problems.FieldError::path).containsExactly("endpoints[1].targetRef.name");
        assertThat(reader.read(SELECTORLESS_PODS.replace("namespace: other", "namespace: Other")).get(0).errors())
                .extracting(Problems.FieldError::path).containsExactly("endpoints[2].targetRef.namespace");
    }

    @Test
    void aBadAddressIsRefusedNamingIt() {
        assertThat(reader.read(API_SERVER.replace("172.18.0.3", "172.18.0.300")).get(0).errors())
                .extracting(Problems.FieldError::path).containsExactly("endpoints[1].addresses[0]");
    }
}
