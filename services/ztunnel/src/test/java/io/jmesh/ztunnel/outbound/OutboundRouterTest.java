package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.testing.FixedDraw;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Istio's outbound decisions (brief §5) on a fixed index. */
class OutboundRouterTest {

    @TempDir
    static Path dir;
    static WorkloadIndex index;
    static OutboundRouter router;
    static ZtunnelConfig config;

    @BeforeAll
    static void load() throws Exception {
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: r1, name: r1, namespace: default, serviceAccount: reviews, addresses: [10.0.1.1], node: b,
                     tunnelProtocol: HBONE, capacity: 3,
                     services: {"default/reviews.default.svc.cluster.local": {ports: [{servicePort: 9080, targetPort: 8080}]}}}
                  - {uid: r2, name: r2, namespace: default, serviceAccount: reviews, addresses: [10.0.1.2], node: b,
                     tunnelProtocol: HBONE, capacity: 1,
                     services: {"default/reviews.default.svc.cluster.local": {ports: [{servicePort: 9080, targetPort: 8080}]}}}
                  - {uid: r3, name: r3, namespace: default, addresses: [10.0.1.3], node: b, tunnelProtocol: HBONE,
                     status: UNHEALTHY,
                     services: {"default/reviews.default.svc.cluster.local": {ports: [{servicePort: 9080, targetPort: 8080}]}}}
                  - {uid: plain, name: plain, namespace: default, addresses: [10.0.2.1], node: b}
                  - {uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint, addresses: [10.0.3.1],
                     node: c, tunnelProtocol: HBONE}
                  - {uid: behind, name: behind, namespace: default, addresses: [10.0.4.1], node: b,
                     tunnelProtocol: HBONE, waypoint: {address: {address: 10.0.3.1}, hboneMtlsPort: 15008}}
                  - {uid: v6, name: v6, namespace: default, addresses: ["fd00::5"], node: b, tunnelProtocol: HBONE}
                  - {uid: hn1, name: node-dns, namespace: kube-system, addresses: [10.0.5.1], node: b,
                     networkMode: HOST_NETWORK,
                     services: {"kube-system/node-dns.kube-system.svc.cluster.local": {ports: [{servicePort: 53, targetPort: 5353}]}}}
                  - {uid: hn2, name: node-exporter, namespace: kube-system, addresses: [10.0.5.1], node: b,
                     networkMode: HOST_NETWORK}
                services:
                  - {name: reviews, namespace: default, hostname: reviews.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.1}], ports: [{servicePort: 9080, targetPort: 8080}],
                     subjectAltNames: ["spiffe://cluster.local/ns/default/sa/reviews-svc"]}
                  - {name: ratings, namespace: default, hostname: ratings.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.2}], ports: [{servicePort: 80}],
                     waypoint: {address: {address: 10.0.3.1}}}
                  - {name: node-dns, namespace: kube-system, hostname: node-dns.kube-system.svc.cluster.local,
                     addresses: [{address: 10.96.0.4}], ports: [{servicePort: 53, targetPort: 5353}]}
                  - {name: empty, namespace: default, hostname: empty.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.3}], ports: [{servicePort: 80}]}
                """);
        index = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config();
        router = new OutboundRouter(config);
    }

    Route route(String host, int port) {
        return router.route(index, index.workloadByUid("src"), host, port);
    }

    @Test
    void serviceVipGoesToAHealthyEndpointWeightedByCapacity() {
        Map<String, Integer> picks = new HashMap<>();
        for (int i = 0; i < 4000; i++) {
            Route.Hbone h = (Route.Hbone) route("10.96.0.1", 9080);
            assertThat(h.authority()).endsWith(":8080");
            assertThat(h.l4().getPort()).isEqualTo(15008);
            assertThat(h.service().getName()).isEqualTo("reviews");
            assertThat(h.expected()).extracting(Object::toString).contains(
                    "spiffe://cluster.local/ns/default/sa/reviews", "spiffe://cluster.local/ns/default/sa/reviews-svc");
            picks.merge(h.destination().getUid(), 1, Integer::sum);
        }
        assertThat(picks).doesNotContainKey("r3"); // unhealthy
        // capacity 3 : 1; bounds far outside any plausible random deviation at n = 4000
        assertThat(picks.get("r1")).isBetween(2600, 3400);
    }

    @Test
    void ztunnelsOwnPortsOnThisNodeAreRefusedAsSelfCalls() {
        // defaults: node 127.0.10.1; 15000 admin, 15001 capture, 15006, 15008, 15020 metrics, 15021, 15053, 15080
        for (String host : List.of("127.0.0.1", "127.5.6.7", "0.0.0.0", "::1", "127.0.10.1")) {
            for (int port : List.of(15000, 15001, 15006, 15008, 15020, 15021, 15053, 15080)) {
                assertThat(route(host, port)).as(host + ":" + port).isInstanceOfSatisfying(Route.Reject.class,
                        r -> assertThat(r.reason()).isEqualTo(OutboundRouter.ILLEGAL_PORT));
            }
        }
        // the same ports elsewhere are ordinary destinations, and other ports on the loopback are not ztunnel's
        assertThat(route("10.9.9.9", 15000)).isInstanceOf(Route.Passthrough.class);
        assertThat(route("10.0.1.1", 15008)).isInstanceOf(Route.Hbone.class);
        assertThat(route("127.0.0.1", 8080)).isInstanceOf(Route.Passthrough.class);
    }

    @Test
    void serviceHostnameResolvesLikeItsVip() {
        assertThat(route("reviews.default.svc.cluster.local", 9080)).isInstanceOf(Route.Hbone.class);
        assertThat(route("nope.example.com", 80)).isInstanceOf(Route.Reject.class);
    }

    @Test
    void serviceWithAWaypointGoesToTheWaypointWithTheOriginalVipAsAuthority() {
        Route.Hbone h = (Route.Hbone) route("10.96.0.2", 80);
        assertThat(h.l4().getAddress().getHostAddress()).isEqualTo("10.0.3.1");
        assertThat(h.authority()).isEqualTo("10.96.0.2:80");
        assertThat(h.expected()).extracting(Object::toString).containsExactly("spiffe://cluster.local/ns/default/sa/waypoint");
    }

    @Test
    void aWaypointNamedByItsServiceVipIsRecognisedAsTheCaller() throws Exception {
        Path f = dir.resolve("waypoint-vip.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint, addresses: [10.0.3.1],
                     node: a, tunnelProtocol: HBONE,
                     services: {"default/waypoint.default.svc.cluster.local": {ports: [{servicePort: 15008, targetPort: 15008}]}}}
                  - {uid: r1, name: r1, namespace: default, serviceAccount: ratings, addresses: [10.0.1.1], node: b,
                     tunnelProtocol: HBONE,
                     services: {"default/ratings.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: behind, name: behind, namespace: default, addresses: [10.0.4.1], node: b,
                     tunnelProtocol: HBONE, waypoint: {address: {address: 10.96.9.9}, hboneMtlsPort: 15008}}
                services:
                  - {name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local,
                     addresses: [{address: 10.96.9.9}], ports: [{servicePort: 15008, targetPort: 15008}]}
                  - {name: ratings, namespace: default, hostname: ratings.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.2}], ports: [{servicePort: 80, targetPort: 8080}],
                     waypoint: {address: {address: 10.96.9.9}, hboneMtlsPort: 15008}}
                """);
        WorkloadIndex byVip = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        var waypoint = byVip.workloadByUid("wp");
        // another caller goes through the waypoint ...
        Route.Hbone viaWaypoint = (Route.Hbone) router.route(byVip, byVip.workloadByUid("r1"), "10.96.0.2", 80);
        assertThat(viaWaypoint.destination().getUid()).isEqualTo("wp");
        // ... the waypoint's own traffic goes on to the destination instead of back to itself
        assertThat(((Route.Hbone) router.route(byVip, waypoint, "10.96.0.2", 80)).destination().getUid())
                .isEqualTo("r1");
        assertThat(((Route.Hbone) router.route(byVip, waypoint, "10.0.4.1", 80)).destination().getUid())
                .isEqualTo("behind");
    }

    @Test
    void podWithAWorkloadWaypointGoesToTheWaypoint() {
        Route.Hbone h = (Route.Hbone) route("10.0.4.1", 7000);
        assertThat(h.l4().getAddress().getHostAddress()).isEqualTo("10.0.3.1");
        assertThat(h.authority()).isEqualTo("10.0.4.1:7000");
    }

    @Test
    void podIpsNonMeshAndServicesWithoutEndpoints() {
        assertThat(((Route.Hbone) route("10.0.1.2", 8080)).authority()).isEqualTo("10.0.1.2:8080");
        assertThat(route("10.0.2.1", 80)).isInstanceOf(Route.Passthrough.class); // workload without HBONE
        assertThat(route("192.0.2.7", 443)).isInstanceOf(Route.Passthrough.class); // outside the mesh
        assertThat(((Route.Reject) route("10.96.0.3", 80)).reason()).isEqualTo("no_healthy_upstream");
        assertThat(((Route.Hbone) route("fd00::5", 80)).authority()).isEqualTo("[fd00::5]:80");
    }

    @Test
    void aHostNetworkPodIsReachedAsAServiceEndpointButItsNodesAddressIsNoWorkloads() {
        // as Istio: the endpoint is dialled in plain TCP (nothing captures the host's network) and reported as the
        // pod; the node's address itself names no pod, whichever of the node's host-network pods would listen there
        Route.Passthrough viaService = (Route.Passthrough) route("10.96.0.4", 53);
        assertThat(viaService.target().toString()).isEqualTo("/10.0.5.1:5353");
        assertThat(viaService.destination().getUid()).isEqualTo("hn1");
        assertThat(viaService.service().getName()).isEqualTo("node-dns");
        Route.Passthrough direct = (Route.Passthrough) route("10.0.5.1", 9100);
        assertThat(direct.target().toString()).isEqualTo("/10.0.5.1:9100");
        assertThat(direct.destination()).isNull();
    }

    @Test
    void aWaypointIsChosenByItsServicesLoadBalancingToo() throws Exception {
        Path f = dir.resolve("waypoints.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE,
                     locality: {region: eu, zone: z1}}
                  - {uid: wp-z1, name: wp-z1, namespace: default, serviceAccount: waypoint, addresses: [10.0.3.1],
                     node: b, tunnelProtocol: HBONE, locality: {region: eu, zone: z1},
                     services: {"default/waypoint.default.svc.cluster.local": {}}}
                  - {uid: wp-z2, name: wp-z2, namespace: default, serviceAccount: waypoint, addresses: [10.0.3.2],
                     node: c, tunnelProtocol: HBONE, locality: {region: eu, zone: z2}, capacity: 1000,
                     services: {"default/waypoint.default.svc.cluster.local": {}}}
                services:
                  - {name: waypoint, namespace: default, hostname: waypoint.default.svc.cluster.local,
                     addresses: [{address: 10.96.9.9}], ports: [{servicePort: 15008, targetPort: 15008}],
                     loadBalancing: {routingPreference: [NETWORK, REGION, ZONE, SUBZONE], mode: FAILOVER}}
                  - {name: ratings, namespace: default, hostname: ratings.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.2}], ports: [{servicePort: 80}],
                     waypoint: {hostname: {namespace: default, hostname: waypoint.default.svc.cluster.local}}}
                """);
        WorkloadIndex waypoints = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        for (long draw : new long[] {0, 1, 999, 1000}) {
            Route.Hbone h = (Route.Hbone) new OutboundRouter(config, () -> FixedDraw.of(draw))
                    .route(waypoints, waypoints.workloadByUid("src"), "10.96.0.2", 80);
            assertThat(h.destination().getUid()).as("draw " + draw).isEqualTo("wp-z1");
            assertThat(h.authority()).isEqualTo("10.96.0.2:80");
        }
    }

    @Test
    void anEndpointKnownByHostnameOnlyIsResolvedFirstThenRoutedAsAnEndpointAtTheAddressPicked() throws Exception {
        Path f = dir.resolve("hostnames.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: se/db, name: db, namespace: default, hostname: db.example.com,
                     services: {"default/db.example.com": {ports: [{servicePort: 5432, targetPort: 15432}]}}}
                  - {uid: se/mesh-db, name: mesh-db, namespace: default, serviceAccount: db, hostname: db.mesh.example,
                     tunnelProtocol: HBONE, services: {"default/db.mesh.example": {}}}
                services:
                  - {name: db, namespace: default, hostname: db.example.com,
                     addresses: [{address: 10.96.7.1}, {address: "fd00::96:7:1"}], ports: [{servicePort: 5432}]}
                  - {name: mesh-db, namespace: default, hostname: db.mesh.example,
                     addresses: [{address: 10.96.7.2}], ports: [{servicePort: 5432, targetPort: 5432}]}
                  - {name: behind, namespace: default, hostname: behind.example.com,
                     addresses: [{address: 10.96.7.3}], ports: [{servicePort: 80}],
                     waypoint: {hostname: {namespace: default, hostname: db.example.com}}}
                """);
        WorkloadIndex ix = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        assertThat(WorkloadIndex.firstIp(ix.workloadByUid("se/db"))).isNull();
        assertThat(ix.workloadByIp(InetAddress.getByName("0.0.0.0"))).isNull(); // indexed by no address
        assertThat(ix.workloadByIp(InetAddress.getByName("::"))).isNull();
        var src = ix.workloadByUid("src");

        for (String host : new String[] {"10.96.7.1", "db.example.com"}) {
            Route.Resolve r = (Route.Resolve) router.route(ix, src, host, 5432);
            assertThat(r.hostname()).isEqualTo("db.example.com");
            assertThat(r.port()).isEqualTo(15432); // the endpoint's own mapping
            assertThat(r.ipv6()).as("an IPv4 VIP, or the IPv4 source's family for a name").isFalse();
            assertThat(r.destination().getTunnelProtocol())
                    .isNotEqualTo(io.jmesh.proto.istio.workload.TunnelProtocol.HBONE);
            assertThat(r.destination().getUid()).isEqualTo("se/db");
            assertThat(r.service().getName()).isEqualTo("db");
        }
        Route.Resolve v6 = (Route.Resolve) router.route(ix, src, "fd00::96:7:1", 5432);
        assertThat(v6.ipv6()).isTrue();

        // the original destination's family first, at random among its addresses; else the other family
        List<InetAddress> both = List.of(InetAddress.getByName("::1"), InetAddress.getByName("127.0.0.5"),
                InetAddress.getByName("::2"));
        Route.Resolve v4 = (Route.Resolve) router.route(ix, src, "10.96.7.1", 5432);
        for (long draw : new long[] {0, 1, 2}) {
            Route.Passthrough p = (Route.Passthrough) new OutboundRouter(config, () -> FixedDraw.of(draw))
                    .resolved(v4, both);
            assertThat(p.target()).isEqualTo(new InetSocketAddress("127.0.0.5", 15432));
            assertThat(p.destination().getUid()).isEqualTo("se/db");
            assertThat(p.service().getName()).isEqualTo("db");
        }
        FixedDraw second = FixedDraw.of(1);
        Route.Passthrough p6 = (Route.Passthrough) new OutboundRouter(config, () -> second).resolved(v6, both);
        assertThat(p6.target().getAddress().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:2");
        assertThat(second.intBounds).containsExactly(2);
        Route.Passthrough other = (Route.Passthrough) router.resolved(v4, List.of(InetAddress.getByName("::1")));
        assertThat(other.target().getAddress().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:1");
        assertThat(router.resolved(v4, List.of())).isInstanceOfSatisfying(Route.Reject.class, reject -> {
            assertThat(reject.reason()).isEqualTo(OutboundRouter.NO_RESOLVED_ADDRESSES);
            assertThat(reject.detail()).isEqualTo(
                    "endpoint se/db of db.example.com: hostname 'db.example.com' resolved to no address");
        });

        // an HBONE endpoint: its resolved address's 15008, authority address:port, its identity expected
        Route.Resolve mesh = (Route.Resolve) router.route(ix, src, "10.96.7.2", 5432);
        assertThat(mesh.destination().getTunnelProtocol()).isEqualTo(io.jmesh.proto.istio.workload.TunnelProtocol.HBONE);
        Route.Hbone h = (Route.Hbone) router.resolved(mesh, List.of(InetAddress.getByName("127.0.0.6")));
        assertThat(h.l4()).isEqualTo(new InetSocketAddress("127.0.0.6", 15008));
        assertThat(h.authority()).isEqualTo("127.0.0.6:5432");
        assertThat(h.expected()).extracting(Object::toString).containsExactly("spiffe://cluster.local/ns/default/sa/db");

        // a waypoint is dialled by address: a waypoint service with hostname endpoints only has none to offer
        assertThat(((Route.Reject) router.route(ix, src, "10.96.7.3", 80)).reason()).isEqualTo("no_waypoint");
    }

    @Test
    void aDualStackEndpointOrWaypointIsDialledInTheOriginalDestinationsFamilyWithinTheServicesFamilies()
            throws Exception {
        Path f = dir.resolve("dual-stack.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: ds, name: ds, namespace: default, serviceAccount: ds, addresses: [10.0.6.1, "fd00::6:1"],
                     node: b, tunnelProtocol: HBONE,
                     services: {"default/dual.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]},
                                "default/v6.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: v4only, name: v4only, namespace: default, addresses: [10.0.6.2], node: b,
                     tunnelProtocol: HBONE,
                     services: {"default/v6only.default.svc.cluster.local": {ports: [{servicePort: 80, targetPort: 8080}]}}}
                  - {uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint,
                     addresses: [10.0.3.2, "fd00::3:2"], node: c, tunnelProtocol: HBONE}
                services:
                  - {name: dual, namespace: default, hostname: dual.default.svc.cluster.local, ipFamilies: DUAL,
                     addresses: [{address: 10.96.6.1}, {address: "fd00::96:6:1"}], ports: [{servicePort: 80}]}
                  - {name: v6, namespace: default, hostname: v6.default.svc.cluster.local, ipFamilies: IPV6_ONLY,
                     addresses: [{address: "fd00::96:6:2"}], ports: [{servicePort: 80}]}
                  - {name: v6only, namespace: default, hostname: v6only.default.svc.cluster.local,
                     ipFamilies: IPV6_ONLY, addresses: [{address: "fd00::96:6:3"}], ports: [{servicePort: 80}]}
                  - {name: waypointed, namespace: default, hostname: waypointed.default.svc.cluster.local,
                     addresses: [{address: 10.96.6.4}, {address: "fd00::96:6:4"}], ports: [{servicePort: 80}],
                     waypoint: {address: {address: 10.0.3.2}}}
                """);
        WorkloadIndex ix = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        var src = ix.workloadByUid("src");
        // as Istio's ztunnel picks an endpoint's address: the original destination's family
        Route.Hbone v6 = (Route.Hbone) router.route(ix, src, "fd00::96:6:1", 80);
        assertThat(v6.authority()).isEqualTo("[fd00::6:1]:8080");
        assertThat(v6.l4()).isEqualTo(new InetSocketAddress(InetAddress.getByName("fd00::6:1"), 15008));
        Route.Hbone v4 = (Route.Hbone) router.route(ix, src, "10.96.6.1", 80);
        assertThat(v4.authority()).isEqualTo("10.0.6.1:8080");
        // the service's families first: an IPv6-only service named over SOCKS5 by an IPv4 client
        assertThat(((Route.Hbone) router.route(ix, src, "v6.default.svc.cluster.local", 80)).authority())
                .isEqualTo("[fd00::6:1]:8080");
        // an endpoint with no address in the service's families has none to dial (Istio: NoValidDestination)
        assertThat(router.route(ix, src, "fd00::96:6:3", 80)).isInstanceOfSatisfying(Route.Reject.class, r -> {
            assertThat(r.reason()).isEqualTo(OutboundRouter.NO_VALID_DESTINATION);
            assertThat(r.detail()).isEqualTo("endpoint default/v4only of v6only.default.svc.cluster.local has no"
                    + " address in the service's families (IPV6_ONLY): [10.0.6.2]");
        });
        // a dual-stack waypoint too
        Route.Hbone wp6 = (Route.Hbone) router.route(ix, src, "fd00::96:6:4", 80);
        assertThat(wp6.l4()).isEqualTo(new InetSocketAddress(InetAddress.getByName("fd00::3:2"), 15008));
        assertThat(wp6.authority()).isEqualTo("[fd00::96:6:4]:80");
        Route.Hbone wp4 = (Route.Hbone) router.route(ix, src, "10.96.6.4", 80);
        assertThat(wp4.l4()).isEqualTo(new InetSocketAddress(InetAddress.getByName("10.0.3.2"), 15008));
    }

    @Test
    void aPassthroughServiceGoesToTheOriginalDestinationEvenWithEndpoints() throws Exception {
        // istiod's form of a ServiceEntry with resolution NONE (a workloadSelector may still give it endpoints)
        Path f = dir.resolve("passthrough.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: ep, name: ep, namespace: default, addresses: [10.0.7.1], node: b, tunnelProtocol: HBONE,
                     services: {"default/legacy.example.com": {ports: [{servicePort: 443, targetPort: 8443}]}}}
                  - {uid: wp, name: waypoint, namespace: default, serviceAccount: waypoint, addresses: [10.0.3.1],
                     node: c, tunnelProtocol: HBONE}
                services:
                  - {name: legacy, namespace: default, hostname: legacy.example.com,
                     addresses: [{address: 10.96.7.7}], ports: [{servicePort: 443}],
                     loadBalancing: {mode: PASSTHROUGH, healthPolicy: ALLOW_ALL}}
                  - {name: watched, namespace: default, hostname: watched.example.com,
                     addresses: [{address: 10.96.7.8}], ports: [{servicePort: 443}],
                     loadBalancing: {mode: PASSTHROUGH, healthPolicy: ALLOW_ALL},
                     waypoint: {address: {address: 10.0.3.1}}}
                """);
        WorkloadIndex ix = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        var src = ix.workloadByUid("src");
        Route.Passthrough p = (Route.Passthrough) router.route(ix, src, "10.96.7.7", 443);
        assertThat(p.target()).isEqualTo(new InetSocketAddress("10.96.7.7", 443));
        assertThat(p.destination()).isNull();
        assertThat(p.service()).as("Istio's passthrough names no destination service").isNull();
        // a waypoint still comes first (Istio looks for the service's waypoint before any upstream)
        Route.Hbone h = (Route.Hbone) router.route(ix, src, "10.96.7.8", 443);
        assertThat(h.destination().getUid()).isEqualTo("wp");
        assertThat(h.authority()).isEqualTo("10.96.7.8:443");
    }

    @Test
    void transparentModeDialsAWorkloadOfThisNodeAtItsOwnAddress() {
        // node b's ztunnel, transparent: HBONE to <pod>:15008 as for any pod; the capture rules loop this dial back
        // to our own 15008 (CaptureRules), so the pod's address picks the certificate that answers
        ZtunnelConfig transparent = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_NODE_NAME", "b", "MESH_NODE_ADDRESS", "10.0.1.254", "MESH_LISTENERS_TRANSPARENT", "true",
                "MESH_LISTENERS_INBOUND_PER_WORKLOAD", "false")).config();
        Route.Hbone local = (Route.Hbone) new OutboundRouter(transparent).route(index, index.workloadByUid("src"),
                "10.0.1.2", 8080);
        assertThat(local.l4().getAddress().getHostAddress()).isEqualTo("10.0.1.2");
        assertThat(local.l4().getPort()).isEqualTo(15008);
        assertThat(local.authority()).isEqualTo("10.0.1.2:8080");
        Route.Hbone remote = (Route.Hbone) new OutboundRouter(transparent).route(index, index.workloadByUid("src"),
                "10.0.3.1", 8080);
        assertThat(remote.l4().getAddress().getHostAddress()).isEqualTo("10.0.3.1");
    }
}
