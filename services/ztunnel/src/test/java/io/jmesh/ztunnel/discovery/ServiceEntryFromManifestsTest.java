package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.policy.state.MeshState;
import io.jmesh.ztunnel.testing.PolicyManifests;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.outbound.OutboundRouter;
import io.jmesh.ztunnel.outbound.Route;
import io.jmesh.ztunnel.testing.FixedDraw;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Istio ServiceEntries from YAML to the route ztunnel takes: policy's reader and translator produce the Address
 * resources, ztunnel's discovery accepts each of them, and its router sends a pod's connections to the entry's
 * endpoints (outside the mesh: plain TCP to the endpoint's port), through HBONE where the entry says its endpoints
 * take it, to the selected pods of the entry's namespace, and to the entry's waypoint,
 * and a DNS host without addresses through the VIP policy allocates to its name, resolved by ztunnel.
 */
class ServiceEntryFromManifestsTest {

    static final String MANIFESTS = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: sleep, namespace: shop}
            spec: {address: 10.1.0.1, node: node-a, labels: {app: sleep}, serviceAccount: sleep}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: cache-1, namespace: shop}
            spec: {address: 10.2.0.7, node: node-b, labels: {app: cache}, ports: {redis: 16379}}
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: db, namespace: shop}
            spec:
              hosts: [db.internal.example]
              addresses: [10.200.0.10]
              resolution: STATIC
              ports: [{number: 5432, name: postgres, protocol: TCP}]
              endpoints: [{address: 192.0.2.10, ports: {postgres: 6432}}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: vm-api, namespace: shop, labels: {networking.istio.io/tunnel: http}}
            spec:
              hosts: [api.vms.example]
              resolution: STATIC
              ports: [{number: 8080, name: http}]
              endpoints: [{address: 192.0.2.20, serviceAccount: vm-api}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: cache, namespace: shop}
            spec:
              hosts: [cache.mesh.example]
              addresses: [240.240.0.5]
              resolution: STATIC
              ports: [{number: 6379, name: redis}]
              workloadSelector: {labels: {app: cache}}
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: payments, namespace: shop, labels: {istio.io/use-waypoint: egress}}
            spec:
              hosts: [pay.example]
              addresses: [240.240.0.6]
              resolution: DNS
              ports: [{number: 443, name: tls, protocol: TLS}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: weather, namespace: shop}
            spec:
              hosts: [api.weather.example]
              resolution: DNS
              ports: [{number: 443, name: tls, protocol: TLS}]
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: egress-1, namespace: shop}
            spec: {address: 10.3.0.9, node: node-c, labels: {app: egress}, serviceAccount: egress}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: egress, namespace: shop, labels: {gateway.istio.io/managed: istio.io-mesh-controller}}
            spec: {selector: {app: egress}, clusterIP: 10.96.0.50, ports: [{name: mesh, port: 15008}]}
            """;

    static WorkloadIndex index;
    static ZtunnelConfig config;

    @BeforeAll
    static void translate() throws Exception {
        MeshState state = PolicyManifests.state(MANIFESTS);
        Map<String, Address> all = new HashMap<>();
        for (var r : state.addresses().values()) {
            Address a = Address.parseFrom(r.body().getValue());
            assertThat(AddressValidator.problem(r.name(), a)).as(r.name()).isNull();
            all.put(r.name(), a);
        }
        index = WorkloadIndex.of(all, "");
        config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of("MESH_NODE_NAME", "node-a")).config();
    }

    static Route route(String host, int port) {
        Workload sleep = index.workloadByUid("Kubernetes/networking.istio.io/WorkloadEntry/shop/sleep");
        return new OutboundRouter(config, () -> FixedDraw.of(0)).route(index, sleep, host, port);
    }

    @Test
    void anExternalDatabaseIsReachedInPlainTcpOnItsEndpointsPortByNameAndByVip() {
        for (String host : new String[] {"db.internal.example", "10.200.0.10"}) {
            assertThat(route(host, 5432)).as(host).isInstanceOfSatisfying(Route.Passthrough.class, p -> {
                assertThat(p.target()).isEqualTo(new InetSocketAddress("192.0.2.10", 6432));
                assertThat(p.service().getHostname()).as("telemetry names the entry's host")
                        .isEqualTo("db.internal.example");
                assertThat(p.destination().getUid())
                        .isEqualTo("Kubernetes/networking.istio.io/ServiceEntry/shop/db/192.0.2.10");
            });
        }
    }

    @Test
    void endpointsTheEntrySaysTakeHboneAreTunnelledToWithTheirIdentity() {
        assertThat(route("api.vms.example", 8080)).isInstanceOfSatisfying(Route.Hbone.class, h -> {
            assertThat(h.l4()).isEqualTo(new InetSocketAddress("192.0.2.20", 15008));
            assertThat(h.authority()).isEqualTo("192.0.2.20:8080");
            assertThat(h.expected()).extracting(Object::toString)
                    .anyMatch(id -> id.contains("spiffe://cluster.local/ns/shop/sa/vm-api"));
        });
    }

    @Test
    void aSelectorEntryRoutesToTheSelectedMeshWorkloadOnItsNamedPort() {
        assertThat(route("240.240.0.5", 6379)).isInstanceOfSatisfying(Route.Hbone.class, h -> {
            assertThat(h.destination().getName()).isEqualTo("cache-1");
            assertThat(h.authority()).isEqualTo("10.2.0.7:16379");
        });
    }

    @Test
    void aDnsHostWithoutAddressesGetsAVipThatRoutesToItsNameResolvedByZtunnel() {
        var service = index.serviceByHostname("api.weather.example");
        assertThat(service.getAddressesList()).as("policy's allocation, both families").hasSize(2);
        String vip = firstVip(service);
        assertThat(vip).startsWith("240.240.");
        assertThat(route(vip, 443)).isInstanceOfSatisfying(Route.Resolve.class, r -> {
            assertThat(r.hostname()).isEqualTo("api.weather.example");
            assertThat(r.port()).isEqualTo(443);
            assertThat(r.ipv6()).isFalse();
        });
    }

    static String firstVip(io.jmesh.proto.istio.workload.Service s) {
        try {
            return java.net.InetAddress.getByAddress(s.getAddresses(0).getAddress().toByteArray()).getHostAddress();
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void anEntryWithAWaypointIsReachedThroughIt() {
        assertThat(route("240.240.0.6", 443)).isInstanceOfSatisfying(Route.Hbone.class, h -> {
            assertThat(h.destination().getName()).isEqualTo("egress-1");
            assertThat(h.authority()).as("the original destination").isEqualTo("240.240.0.6:443");
        });
    }
}
