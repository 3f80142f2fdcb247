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
              labels: {kubernetes.io/service-name: reviews}
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

        assertThat(ManifestReader.sliceNotRegistered(PODS_ONLY))
                .isEqualTo("endpoints: none but pods' (each pod is a workload of its own)");
        assertThat(reader.read(PODS_ONLY).get(0).errors()).extracting(Problems.FieldError::path)
                .containsExactly("endpoints");
        assertThat(ManifestReader.sliceNotRegistered(API_SERVER.replace("IPv4", "FQDN")))
                .startsWith("addressType: 'FQDN'");
        assertThat(ManifestReader.sliceNotRegistered(API_SERVER.replace("kubernetes.io/service-name: kubernetes, ",
                ""))).startsWith("metadata.labels.kubernetes.io/service-name: missing");
        assertThat(ManifestReader.sliceNotRegistered(API_SERVER)).isNull();
    }

    @Test
    void aBadAddressIsRefusedNamingIt() {
        assertThat(reader.read(API_SERVER.replace("172.18.0.3", "172.18.0.300")).get(0).errors())
                .extracting(Problems.FieldError::path).containsExactly("endpoints[1].addresses[0]");
    }
}
