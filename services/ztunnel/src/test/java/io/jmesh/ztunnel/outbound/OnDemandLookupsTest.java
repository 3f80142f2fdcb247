package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.testing.AliasAdsServer;
import io.jmesh.ztunnel.testing.FixedDraw;
import io.vertx.core.Future;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the outbound path asks on-demand discovery for before routing ({@link OnDemandLookups}): the destination by
 * {@code network/IP} or {@code namespace/hostname}, then what it refers to (a waypoint, the network gateway of an
 * endpoint or waypoint on another network), in bounded rounds; and that the router then finds a route it would
 * have refused (no_waypoint, no_network_gateway) had the references not been asked for. Discovery is faked: a
 * demand applies what a policy holding the mesh below would answer, at once.
 */
class OnDemandLookupsTest {

    @TempDir
    Path dir;
    Map<String, Address> mesh;
    WorkloadStore store;
    final List<String> asked = new ArrayList<>();
    OnDemandLookups lookups;
    OutboundRouter router;

    @BeforeEach
    void start() throws Exception {
        Path file = dir.resolve("mesh.yaml");
        Files.writeString(file, """
                workloads:
                  - {uid: client, name: client, namespace: default, addresses: [10.0.0.1], node: node-a,
                     tunnelProtocol: HBONE}
                  - {uid: app, name: app, namespace: default, addresses: [10.0.1.1], node: node-b,
                     tunnelProtocol: HBONE,
                     services: {"default/plain.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]},
                                "default/waypointed.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]},
                                "default/named.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: waypoint, name: waypoint, namespace: default, addresses: [10.0.3.1], node: node-b,
                     tunnelProtocol: HBONE,
                     services: {"default/waypoint.default.svc.cluster.local": {ports: [{servicePort: 15008, targetPort: 15008}]}}}
                  - {uid: far, name: far, namespace: default, addresses: [10.1.0.1], network: net-b, node: node-c,
                     tunnelProtocol: HBONE,
                     networkGateway: {address: {network: net-b, address: 10.1.9.9}, hboneMtlsPort: 15008},
                     services: {"default/far.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: far-waypoint, name: far-waypoint, namespace: default, addresses: [10.1.3.1], network: net-b,
                     node: node-c, tunnelProtocol: HBONE,
                     networkGateway: {address: {network: net-b, address: 10.1.9.9}, hboneMtlsPort: 15008}}
                  - {uid: ew-gateway, name: ew-gateway, namespace: istio-system, addresses: [10.1.9.9], network: net-b,
                     node: node-c, tunnelProtocol: HBONE}
                services:
                  - {name: plain, namespace: default, hostname: plain.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.1}], ports: [{servicePort: 80, targetPort: 8080}]}
                  - {name: waypointed, namespace: default, hostname: waypointed.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.2}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {address: {address: 10.0.3.1}, hboneMtlsPort: 15008}}
                  - {name: named, namespace: default, hostname: named.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.3}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {hostname: {namespace: default, hostname: waypoint.default.svc.cluster.local}}}
                  - {name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.9}], ports: [{servicePort: 15008, targetPort: 15008}]}
                  - {name: far, namespace: default, hostname: far.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.4}], ports: [{servicePort: 80, targetPort: 8080}]}
                  - {name: far-waypointed, namespace: default, hostname: far-waypointed.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.5}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {address: {network: net-b, address: 10.1.3.1}, hboneMtlsPort: 15008}}
                """);
        mesh = StaticConfigFile.read(file).addresses();
        store = new WorkloadStore();
        // a policy holding `mesh`, answering at once: what an alias names, a service with its endpoints
        store.demandFrom(alias -> {
            asked.add(alias);
            Map<String, Address> answer = new LinkedHashMap<>();
            mesh.forEach((name, a) -> {
                if (AliasAdsServer.aliases(name, a).contains(alias)) {
                    answer.put(name, a);
                    if (a.hasService()) {
                        mesh.forEach((n, w) -> {
                            if (w.hasWorkload() && w.getWorkload().getServicesMap().containsKey(name)) {
                                answer.put(n, w);
                            }
                        });
                    }
                }
            });
            store.apply(answer, List.of());
            return Future.succeededFuture();
        });
        lookups = new OnDemandLookups(store);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config();
        router = new OutboundRouter(config, () -> FixedDraw.of(0));
    }

    /** Asks what routing {@code host} needs; true when something had to be asked. */
    boolean prepare(String host) {
        Future<Void> f = lookups.prepare(store.current(), host);
        assertThat(f == null || f.succeeded()).isTrue();
        return f != null;
    }

    Route route(String host, int port) {
        var index = store.current();
        return router.route(index, index.workloadByUid("client"), host, port);
    }

    @Test
    void anUnknownAddressIsAskedForOnThisNodesNetworkAndNothingElse() {
        assertThat(prepare("10.0.0.1")).isTrue();
        assertThat(asked).containsExactly("/10.0.0.1");
        assertThat(prepare("192.0.2.7")).isTrue();
        assertThat(asked).containsExactly("/10.0.0.1", "/192.0.2.7");
        assertThat(route("192.0.2.7", 443)).isInstanceOf(Route.Passthrough.class);
        // known now: nothing to ask
        assertThat(prepare("10.0.0.1")).isFalse();
        assertThat(prepare("10.96.0.1")).isTrue();
        assertThat(asked).endsWith("/10.96.0.1");
        assertThat(prepare("10.96.0.1")).isFalse();
    }

    @Test
    void aServiceHostnameIsAskedForInTheNamespaceItsNameSays() {
        prepare("10.0.0.1");
        assertThat(prepare("plain.default.svc.cluster.local")).isTrue();
        assertThat(asked).endsWith("default/plain.default.svc.cluster.local");
        assertThat(route("plain.default.svc.cluster.local", 80)).isInstanceOf(Route.Hbone.class);
        // a name that says no namespace cannot be asked for
        assertThat(prepare("example.com")).isFalse();
        assertThat(prepare("plain.default")).isFalse();
        assertThat(prepare("a.b.svc.")).isFalse();
    }

    @Test
    void aServicesWaypointByAddressOrByHostnameIsAskedForInTheNextRound() {
        prepare("10.0.0.1");
        asked.clear();
        assertThat(prepare("10.96.0.2")).isTrue();
        assertThat(asked).containsExactly("/10.96.0.2", "/10.0.3.1");
        Route r = route("10.96.0.2", 80);
        assertThat(r).isInstanceOf(Route.Hbone.class);
        assertThat(((Route.Hbone) r).destination().getUid()).isEqualTo("waypoint");

        asked.clear();
        assertThat(prepare("10.96.0.3")).isTrue();
        assertThat(asked).containsExactly("/10.96.0.3", "default/waypoint.default.svc.cluster.local");
        assertThat(((Route.Hbone) route("10.96.0.3", 80)).destination().getUid()).isEqualTo("waypoint");
    }

    @Test
    void anEndpointOnAnotherNetworkHasItsNetworkGatewayAskedFor() {
        prepare("10.0.0.1");
        asked.clear();
        assertThat(prepare("10.96.0.4")).isTrue();
        assertThat(asked).containsExactly("/10.96.0.4", "net-b/10.1.9.9");
        assertThat(route("10.96.0.4", 80)).isInstanceOf(Route.DoubleHbone.class);
    }

    @Test
    void aWaypointOnAnotherNetworkHasItsNetworkGatewayAskedForInTheLastRound() {
        prepare("10.0.0.1");
        asked.clear();
        // the service, its waypoint (on net-b), that waypoint's network gateway: three rounds, no more
        assertThat(prepare("10.96.0.5")).isTrue();
        assertThat(asked).containsExactly("/10.96.0.5", "net-b/10.1.3.1", "net-b/10.1.9.9");
        assertThat(lookups.missing(store.current(), "10.96.0.5")).isEmpty();
    }

    @Test
    void whatPolicyDoesNotHaveIsRoutedAsUnknownAfterTheAnswer() {
        prepare("10.0.0.1");
        asked.clear();
        assertThat(prepare("nothing.default.svc.cluster.local")).isTrue();
        assertThat(asked).containsExactly("default/nothing.default.svc.cluster.local");
        assertThat(route("nothing.default.svc.cluster.local", 80)).isInstanceOf(Route.Reject.class);
    }
}
