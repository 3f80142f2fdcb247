package io.jmesh.policy.state;

import static io.jmesh.policy.state.MeshStateBuilderTest.service;
import static io.jmesh.policy.state.MeshStateBuilderTest.workloadWithUid;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** ServiceEntries translated as istiod translates them for ztunnel (its ambient index). */
class ServiceEntryStateTest {

    static final String SE_UID = "Kubernetes/networking.istio.io/ServiceEntry/shop/";

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(MeshStateBuilderTest.SETTINGS);
    final List<MeshState.Skipped> skipped = new ArrayList<>();

    MeshState state(String... manifests) {
        return MeshStateBuilderTest.build(reader, builder, skipped::add, manifests);
    }

    static String ports(Service s) {
        return String.join(",", s.getPortsList().stream().map(p -> p.getServicePort() + "->" + p.getTargetPort())
                .toList());
    }

    static String ports(Workload w, String service) {
        return String.join(",", w.getServicesMap().get(service).getPortsList().stream()
                .map(p -> p.getServicePort() + "->" + p.getTargetPort()).toList());
    }

    /** The allocation slot behind the IPv4 VIP policy gave {@code service}. */
    static int slotOf(MeshState s, String service) throws Exception {
        byte[] v4 = service(s, service).getAddresses(0).getAddress().toByteArray();
        assertThat(v4[0] & 0xff).isEqualTo(240);
        assertThat(v4[1] & 0xff).isEqualTo(240);
        return (v4[2] & 0xff) * 254 + (v4[3] & 0xff) - 1;
    }

    static byte[] ip(String literal) throws Exception {
        return InetAddress.getByName(literal).getAddress();
    }

    @Test
    void aDnsEntryWithoutEndpointsIsOneServiceAndOneHostnameWorkloadPerHost() throws Exception {
        MeshState s = state(MeshStateBuilderTest.BASE, """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: payments, namespace: shop, labels: {app: payments}}
                spec:
                  hosts: [api.payments.example, status.payments.example]
                  resolution: DNS
                  ports: [{number: 443, name: https, protocol: TLS}, {number: 80, name: http, targetPort: 8080}]
                  subjectAltNames: ["spiffe://payments.example/api"]
                status:
                  addresses: [{value: 240.240.0.1, host: api.payments.example}]
                """);
        Service api = service(s, "shop/api.payments.example");
        assertThat(api.getName()).isEqualTo("payments");
        assertThat(api.getAddressesList()).as("Istio's allocated VIP").singleElement()
                .satisfies(a -> assertThat(a.getAddress().toByteArray()).isEqualTo(ip("240.240.0.1")));
        assertThat(ports(api)).isEqualTo("443->443,80->8080");
        assertThat(api.getSubjectAltNamesList()).containsExactly("spiffe://payments.example/api");
        assertThat(service(s, "shop/status.payments.example").getAddressesList())
                .as("Istio allocated none (no istiod): policy's own, both families")
                .extracting(x -> InetAddress.getByAddress(x.getAddress().toByteArray()))
                .containsExactlyElementsOf(VipAllocation.vips(slotOf(s, "shop/status.payments.example")).stream()
                        .map(v -> io.jmesh.core.net.IpLiteral.parse(v)).toList());

        Workload w = workloadWithUid(s, SE_UID + "payments/api.payments.example");
        assertThat(w.getHostname()).as("resolved by ztunnel when it connects").isEqualTo("api.payments.example");
        assertThat(w.getAddressesList()).isEmpty();
        assertThat(w.getServicesMap()).as("an endpoint of its own host only")
                .containsOnlyKeys("shop/api.payments.example");
        assertThat(ports(w, "shop/api.payments.example")).isEqualTo("443->443,80->8080");
        assertThat(w.getTunnelProtocol()).as("outside the mesh, whatever the namespace says")
                .isEqualTo(TunnelProtocol.NONE);
        assertThat(w.getName()).isEqualTo("payments");
        assertThat(w.getWorkloadName()).isEqualTo("payments");
        assertThat(w.getCanonicalName()).isEqualTo("payments");
        assertThat(w.getStatus()).isEqualTo(WorkloadStatus.HEALTHY);
        assertThat(s.addresses()).containsKey(SE_UID + "payments/status.payments.example");
    }

    @Test
    void inlineEndpointsAreWorkloadsOfEveryHostOnThePortsTheyName() throws Exception {
        MeshState s = state(MeshStateBuilderTest.BASE, """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: db, namespace: shop, labels: {app: db-vm, networking.istio.io/tunnel: http}}
                spec:
                  hosts: [db.internal.example, pg.internal.example]
                  addresses: [10.200.0.10]
                  resolution: STATIC
                  ports: [{number: 5432, name: postgres, targetPort: 15432}, {number: 9187, name: metrics}]
                  endpoints:
                  - {address: 192.0.2.10, ports: {postgres: 6432}, network: vm-net, locality: eu/west/b, weight: 3,
                     serviceAccount: db, labels: {istio.io/use-waypoint: db-waypoint}}
                  - {address: 192.0.2.11}
                """);
        Workload first = workloadWithUid(s, SE_UID + "db/192.0.2.10");
        assertThat(first.getAddressesList()).singleElement()
                .satisfies(a -> assertThat(a.toByteArray()).isEqualTo(ip("192.0.2.10")));
        assertThat(first.getServicesMap()).containsOnlyKeys("shop/db.internal.example", "shop/pg.internal.example");
        assertThat(ports(first, "shop/db.internal.example")).as("its named port, else the targetPort, else the number")
                .isEqualTo("5432->6432,9187->9187");
        assertThat(first.getNetwork()).isEqualTo("vm-net");
        assertThat(first.getLocality().getRegion()).isEqualTo("eu");
        assertThat(first.getCapacity().getValue()).isEqualTo(3);
        assertThat(first.getServiceAccount()).isEqualTo("db");
        assertThat(first.getTunnelProtocol()).as("the entry says its endpoints take HBONE")
                .isEqualTo(TunnelProtocol.HBONE);
        assertThat(first.getWaypoint().getHostname().getHostname())
                .isEqualTo("db-waypoint.shop.svc.cluster.local");
        Workload second = workloadWithUid(s, SE_UID + "db/192.0.2.11");
        assertThat(ports(second, "shop/pg.internal.example")).isEqualTo("5432->15432,9187->9187");
        assertThat(second.getServiceAccount()).isEqualTo("default");
        assertThat(second.getNetwork()).isEmpty();
        assertThat(service(s, "shop/db.internal.example").getAddressesList()).singleElement()
                .satisfies(a -> assertThat(a.getAddress().toByteArray()).isEqualTo(ip("10.200.0.10")));

        s.prepareIpIndex();
        s.ipIndex(Runnable::run).get();
        assertThat(s.addressNamesAt("", InetAddress.getByName("192.0.2.11")))
                .as("found by address on demand, as a pod is").containsExactly(SE_UID + "db/192.0.2.11");
        assertThat(s.addressNamesAt("", InetAddress.getByName("10.200.0.10")))
                .containsExactlyInAnyOrder("shop/db.internal.example", "shop/pg.internal.example");
    }

    @Test
    void aWorkloadSelectorMakesPodsAndWorkloadEntriesOfItsNamespaceEndpoints() throws Exception {
        MeshState s = state(MeshStateBuilderTest.BASE, """
                apiVersion: v1
                kind: Pod
                metadata: {name: reviews-pod, namespace: shop, labels: {app: reviews}}
                spec: {nodeName: node-a, containers: [{name: app, ports: [{name: mesh, containerPort: 7070}]}]}
                status: {phase: Running, podIP: 10.244.1.20}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: other-ns, namespace: other, labels: {app: reviews}}
                spec: {nodeName: node-a}
                status: {phase: Running, podIP: 10.244.1.21}
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: reviews-mesh, namespace: shop}
                spec:
                  hosts: [reviews.mesh.example]
                  addresses: [240.240.1.1]
                  resolution: STATIC
                  ports: [{number: 80, name: http, targetPort: 8080}, {number: 7000, name: mesh}]
                  workloadSelector: {labels: {app: reviews}}
                """);
        Workload entry = MeshStateBuilderTest.workload(s, "reviews-1");
        assertThat(ports(entry, "shop/reviews.mesh.example")).as("a WorkloadEntry's port of the entry port's name")
                .isEqualTo("80->9080,7000->7000");
        assertThat(entry.getServicesMap()).as("and still its Service's endpoint")
                .containsKey("shop/reviews.shop.svc.cluster.local");
        Workload pod = workloadWithUid(s, "Kubernetes//Pod/shop/reviews-pod");
        assertThat(ports(pod, "shop/reviews.mesh.example")).as("a pod's: the targetPort, else the number")
                .isEqualTo("80->8080,7000->7000");
        assertThat(workloadWithUid(s, "Kubernetes//Pod/other/other-ns").getServicesMap())
                .as("a selector picks in its own namespace only").doesNotContainKey("shop/reviews.mesh.example");
        assertThat(s.addresses()).as("no endpoint workloads of its own")
                .noneSatisfy((k, v) -> assertThat(k).startsWith(SE_UID));
    }

    @Test
    void aHostAServiceAlreadyHasIsLeftOutOfTheEntryAndReported() throws Exception {
        MeshState s = state(MeshStateBuilderTest.BASE, """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: a-shadow, namespace: shop}
                spec:
                  hosts: [reviews.shop.svc.cluster.local, extra.example]
                  addresses: [10.250.0.1]
                  ports: [{number: 80, name: http}]
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: b-late, namespace: shop}
                spec:
                  hosts: [extra.example]
                  addresses: [10.250.0.2]
                  ports: [{number: 80, name: http}]
                """);
        assertThat(service(s, "shop/reviews.shop.svc.cluster.local").getName()).isEqualTo("reviews");
        assertThat(service(s, "shop/extra.example").getName()).as("the first entry by name").isEqualTo("a-shadow");
        assertThat(skipped).extracting(MeshState.Skipped::key)
                .containsExactlyInAnyOrder("ServiceEntry/shop/a-shadow", "ServiceEntry/shop/b-late");
        assertThat(skipped).allSatisfy(k -> assertThat(k.reason()).contains("already has it"));
    }

    @Test
    void anEntrysWaypointTrafficDistributionAndPoliciesComeFromItsMetadata() throws Exception {
        MeshState s = state(MeshStateBuilderTest.BASE, """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: egress
                  namespace: shop
                  labels: {istio.io/use-waypoint: egress-gw, istio.io/use-waypoint-namespace: istio-egress,
                           team: payments}
                  annotations: {networking.istio.io/traffic-distribution: PreferClose}
                spec:
                  hosts: [pay.example]
                  resolution: DNS
                  ports: [{number: 443, name: tls, protocol: TLS}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: payments-only, namespace: shop}
                spec:
                  selector: {matchLabels: {team: payments}}
                  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/checkout]}}]}]
                """);
        Service svc = service(s, "shop/pay.example");
        assertThat(svc.getWaypoint().getHostname().getNamespace()).isEqualTo("istio-egress");
        assertThat(svc.getWaypoint().getHostname().getHostname()).isEqualTo("egress-gw.istio-egress.svc.cluster.local");
        assertThat(svc.getLoadBalancing().getMode()).isEqualTo(LoadBalancing.Mode.FAILOVER);
        assertThat(workloadWithUid(s, SE_UID + "egress/pay.example").getAuthorizationPoliciesList())
                .as("selected by the entry's labels, as istiod does").containsExactly("shop/payments-only");
    }

    @Test
    void resolutionNoneIsOnlyTheServiceClientsAddressed() throws Exception {
        MeshState s = state(MeshStateBuilderTest.BASE, """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: passthrough, namespace: shop}
                spec:
                  hosts: [legacy.example]
                  addresses: [203.0.113.7]
                  ports: [{number: 25, name: smtp, protocol: TCP}]
                status:
                  addresses: [{value: 240.240.0.9, host: legacy.example}]
                """);
        assertThat(service(s, "shop/legacy.example").getAddressesList()).as("its own address, nothing allocated")
                .singleElement().satisfies(a -> assertThat(a.getAddress().toByteArray()).isEqualTo(ip("203.0.113.7")));
        assertThat(s.addresses()).noneSatisfy((k, v) -> assertThat(k).startsWith(SE_UID));
        // as istiod: ztunnel sends the connection to the address called, choosing no endpoint (without this it
        // found no endpoint and refused it)
        assertThat(service(s, "shop/legacy.example").getLoadBalancing()).isEqualTo(LoadBalancing.newBuilder()
                .setMode(LoadBalancing.Mode.PASSTHROUGH).setHealthPolicy(LoadBalancing.HealthPolicy.ALLOW_ALL)
                .build());
    }
}
