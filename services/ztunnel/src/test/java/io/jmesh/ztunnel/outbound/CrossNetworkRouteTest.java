package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Outbound decisions when workloads are on other networks than this node's (the default, empty, network). */
class CrossNetworkRouteTest {

    @TempDir
    static Path dir;
    static WorkloadIndex index;
    static OutboundRouter router;

    @BeforeAll
    static void load() throws Exception {
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: far, name: far, namespace: default, serviceAccount: far, addresses: [10.9.0.1], node: w1,
                     network: west, tunnelProtocol: HBONE,
                     networkGateway: {address: {network: west, address: 10.9.9.9}, hboneMtlsPort: 15443},
                     services: {"default/far.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: gw, name: eastwest, namespace: istio-system, serviceAccount: istio-eastwestgateway,
                     addresses: [10.9.9.9], node: w2, network: west, tunnelProtocol: HBONE}
                  - {uid: stranded, name: stranded, namespace: default, addresses: [10.8.0.1], node: e1,
                     network: east, tunnelProtocol: HBONE,
                     services: {"default/stranded.default.svc.cluster.local": {ports: [{servicePort: 80}]}}}
                  - {uid: lost, name: lost, namespace: default, addresses: [10.7.0.1], node: n1, network: north,
                     tunnelProtocol: HBONE, networkGateway: {address: {network: north, address: 10.7.9.9}},
                     services: {"default/lost.default.svc.cluster.local": {ports: [{servicePort: 80}]}}}
                  - {uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint, addresses: [10.9.3.1],
                     node: w1, network: west, tunnelProtocol: HBONE,
                     networkGateway: {address: {network: west, address: 10.9.9.9}, hboneMtlsPort: 15443},
                     services: {"default/waypoint.default.svc.cluster.local": {ports: [{servicePort: 15008}]}}}
                  - {uid: wp-alone, name: waypoint-alone, namespace: default, serviceAccount: waypoint,
                     addresses: [10.8.3.1], node: e1, network: east, tunnelProtocol: HBONE}
                  # on our network, with its own waypoint over in the west
                  - {uid: near, name: near, namespace: default, addresses: [10.0.0.7], node: b, tunnelProtocol: HBONE,
                     waypoint: {address: {network: west, address: 10.9.3.1}}}
                services:
                  - {name: far, namespace: default, hostname: far.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.1}], ports: [{servicePort: 80, targetPort: 8080}],
                     subjectAltNames: ["spiffe://cluster.local/ns/default/sa/far-svc"]}
                  - {name: stranded, namespace: default, hostname: stranded.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.2}], ports: [{servicePort: 80}]}
                  - {name: lost, namespace: default, hostname: lost.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.3}], ports: [{servicePort: 80}]}
                  - {name: guarded, namespace: default, hostname: guarded.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.4}], ports: [{servicePort: 80}],
                     waypoint: {address: {network: west, address: 10.9.3.1}}}
                  - {name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.9}], ports: [{servicePort: 15008}],
                     subjectAltNames: ["spiffe://cluster.local/ns/default/sa/waypoint-svc"]}
                  - {name: guarded-by-name, namespace: default, hostname: guarded-by-name.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.5}], ports: [{servicePort: 80}],
                     waypoint: {hostname: {namespace: default, hostname: waypoint.default.svc.cluster.local}}}
                  - {name: stranded-waypoint, namespace: default, hostname: sw.default.svc.cluster.local,
                     addresses: [{address: 10.96.1.6}], ports: [{servicePort: 80}],
                     waypoint: {address: {network: east, address: 10.8.3.1}}}
                """);
        index = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        router = new OutboundRouter(ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config());
    }

    Route route(String host, int port) {
        return router.route(index, index.workloadByUid("src"), host, port);
    }

    @Test
    void aServiceEndpointOnAnotherNetworkGoesThroughItsGatewayByHostname() {
        for (String host : new String[] {"10.96.1.1", "far.default.svc.cluster.local"}) {
            Route.DoubleHbone d = (Route.DoubleHbone) route(host, 80);
            assertThat(d.gateway().l4()).isEqualTo(new InetSocketAddress("10.9.9.9", 15443));
            assertThat(d.gateway().authority()).isEqualTo("far.default.svc.cluster.local:80"); // the service port
            assertThat(d.gateway().expected()).extracting(Object::toString)
                    .containsExactly("spiffe://cluster.local/ns/istio-system/sa/istio-eastwestgateway");
            assertThat(d.gateway().destination().getUid()).isEqualTo("gw");
            assertThat(d.expected()).extracting(Object::toString).containsExactlyInAnyOrder(
                    "spiffe://cluster.local/ns/default/sa/far", "spiffe://cluster.local/ns/default/sa/far-svc");
            assertThat(d.destination().getUid()).isEqualTo("far");
            assertThat(d.service().getName()).isEqualTo("far");
        }
    }

    @Test
    void withoutAGatewayOrWithAnUnknownOneTheConnectionIsRefused() {
        Route.Reject none = (Route.Reject) route("10.96.1.2", 80);
        assertThat(none.reason()).isEqualTo("no_network_gateway");
        assertThat(none.detail()).contains("network 'east'", "names no network gateway");
        Route.Reject unknown = (Route.Reject) route("10.96.1.3", 80);
        assertThat(unknown.reason()).isEqualTo("no_network_gateway");
        assertThat(unknown.detail()).contains("network gateway 10.7.9.9 has no healthy workload");
    }

    @Test
    void anotherNetworksPodAddressIsNotOurs() {
        // Istio looks pod addresses up on the caller's network: 10.9.0.1 here is whatever it is on this network
        Route.Passthrough p = (Route.Passthrough) route("10.9.0.1", 8080);
        assertThat(p.destination()).isNull();
        assertThat(p.target()).isEqualTo(new InetSocketAddress("10.9.0.1", 8080));
    }

    @Test
    void aServicesWaypointOnAnotherNetworkIsReachedThroughThatNetworksGateway() {
        // Istio: the outer and inner authority are the service's hostname and port (the gateway sends the service's
        // traffic to its waypoint); the inner handshake must be answered by the waypoint
        for (String host : new String[] {"10.96.1.4", "guarded.default.svc.cluster.local"}) {
            Route.DoubleHbone d = (Route.DoubleHbone) route(host, 80);
            assertThat(d.gateway().l4()).isEqualTo(new InetSocketAddress("10.9.9.9", 15443));
            assertThat(d.gateway().authority()).isEqualTo("guarded.default.svc.cluster.local:80");
            assertThat(d.gateway().destination().getUid()).isEqualTo("gw");
            assertThat(d.expected()).extracting(Object::toString)
                    .containsExactly("spiffe://cluster.local/ns/default/sa/waypoint");
            assertThat(d.destination().getUid()).isEqualTo("wp");
            assertThat(d.service().getName()).isEqualTo("guarded");
        }
        // a waypoint named by its service: that service's SANs are the waypoint's too
        Route.DoubleHbone byName = (Route.DoubleHbone) route("10.96.1.5", 80);
        assertThat(byName.gateway().authority()).isEqualTo("guarded-by-name.default.svc.cluster.local:80");
        assertThat(byName.expected()).extracting(Object::toString).containsExactlyInAnyOrder(
                "spiffe://cluster.local/ns/default/sa/waypoint", "spiffe://cluster.local/ns/default/sa/waypoint-svc");
        assertThat(byName.destination().getUid()).isEqualTo("wp");
    }

    @Test
    void aWaypointOnAnotherNetworkWithoutGatewayOrOfAPodAddressIsRefusedClearly() {
        Route.Reject none = (Route.Reject) route("10.96.1.6", 80);
        assertThat(none.reason()).isEqualTo("no_network_gateway");
        assertThat(none.detail()).contains("waypoint default/waypoint-alone of sw.default.svc.cluster.local",
                "network 'east'", "names no network gateway");
        // pod-addressed: other networks are reached by service only
        Route.Reject pod = (Route.Reject) route("10.0.0.7", 8080);
        assertThat(pod.reason()).isEqualTo("cross_network_waypoint");
        assertThat(pod.detail()).contains("10.0.0.7:8080", "network 'west'", "never by pod address");
    }
}
