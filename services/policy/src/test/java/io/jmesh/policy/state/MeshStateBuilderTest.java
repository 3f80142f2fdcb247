package io.jmesh.policy.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.Test;

class MeshStateBuilderTest {

    static final MeshSettings SETTINGS = new MeshSettings("istio-system", "cluster.local", "Kubernetes",
            "cluster.local");
    static final String UID = "Kubernetes/networking.istio.io/WorkloadEntry/shop/";

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(SETTINGS);

    static final String BASE = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: reviews-1, namespace: shop}
            spec: {address: 127.0.10.5, labels: {app: reviews}, ports: {http: 9080}, serviceAccount: reviews,
                   node: node-a, locality: eu/west/a, weight: 2}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: db-1, namespace: shop}
            spec: {address: 127.0.10.6, labels: {app: db}, node: node-b}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: reviews, namespace: shop}
            spec:
              selector: {app: reviews}
              clusterIP: 10.96.0.10
              ports: [{name: http, port: 80, targetPort: http}, {name: admin, port: 81, targetPort: admin}]
            """;

    MeshState state(String... manifests) {
        return build(reader, builder, s -> { }, manifests);
    }

    /** {@code manifests} (each document valid) read by {@code reader} and built by {@code builder}. */
    static MeshState build(ManifestReader reader, MeshStateBuilder builder,
            java.util.function.Consumer<MeshState.Skipped> skipped, String... manifests) {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : manifests) {
            for (ParsedObject o : reader.read(m)) {
                assertThat(o.errors()).as(o.describe()).isEmpty();
                records.put(o.key(), o.record());
            }
        }
        return builder.build(new ConfigSnapshot(records, Map.of(0, 7L)), skipped);
    }

    static Workload workload(MeshState s, String name) throws Exception {
        return workloadWithUid(s, UID + name);
    }

    static Workload workloadWithUid(MeshState s, String uid) throws Exception {
        return Address.parseFrom(s.addresses().get(uid).body().getValue()).getWorkload();
    }

    @Test
    void aPodWithIstiosSidecarIsNotCapturedUnlessItsSidecarTakesHbone() throws Exception {
        String pods = """
                apiVersion: v1
                kind: Pod
                metadata: {name: legacy-0, namespace: shop, labels: {app: legacy},
                           annotations: {sidecar.istio.io/status: '{"containers":["istio-proxy"]}'}}
                spec: {nodeName: node-a}
                status: {phase: Running, podIP: 10.244.1.7}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: hbone-0, namespace: shop, labels: {app: hbone, networking.istio.io/tunnel: http},
                           annotations: {sidecar.istio.io/status: '{"containers":["istio-proxy"]}'}}
                spec: {nodeName: node-a}
                status: {phase: Running, podIP: 10.244.1.8}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: ambient-0, namespace: shop, labels: {app: ambient}}
                spec: {nodeName: node-a}
                status: {phase: Running, podIP: 10.244.1.9}
                """;
        MeshState s = state(BASE, pods);
        String pod = "Kubernetes//Pod/shop/";
        assertThat(workloadWithUid(s, pod + "legacy-0").getTunnelProtocol())
                .as("in an ambient namespace, but its sidecar has it").isEqualTo(TunnelProtocol.NONE);
        assertThat(workloadWithUid(s, pod + "hbone-0").getTunnelProtocol()).isEqualTo(TunnelProtocol.HBONE);
        assertThat(workloadWithUid(s, pod + "ambient-0").getTunnelProtocol()).isEqualTo(TunnelProtocol.HBONE);
    }

    @Test
    void aHostNetworkPodIsAPlainEndpointOfItsServicesAndNoAliasOfItsNodesAddress() throws Exception {
        String pods = """
                apiVersion: v1
                kind: Pod
                metadata: {name: reviews-host, namespace: shop, labels: {app: reviews}}
                spec: {nodeName: node-a, hostNetwork: true, containers: [{name: app, ports: [{name: http, containerPort: 19080}]}]}
                status: {phase: Running, podIP: 192.168.1.10}
                """;
        MeshState s = state(BASE, pods);
        Workload w = workloadWithUid(s, "Kubernetes//Pod/shop/reviews-host");
        assertThat(w.getNetworkMode()).isEqualTo(NetworkMode.HOST_NETWORK);
        assertThat(w.getTunnelProtocol()).as("in an ambient namespace, but nothing captures the host's network")
                .isEqualTo(TunnelProtocol.NONE);
        assertThat(w.getServicesMap().get("shop/reviews.shop.svc.cluster.local").getPortsList())
                .as("an endpoint of the service it is selected by, on its own named port")
                .anyMatch(p -> p.getServicePort() == 80 && p.getTargetPort() == 19080);
        assertThat(workload(s, "reviews-1").getTunnelProtocol()).isEqualTo(TunnelProtocol.HBONE);
        s.prepareIpIndex();
        s.ipIndex(Runnable::run).get();
        assertThat(s.addressNamesAt("", InetAddress.getByName("192.168.1.10")))
                .as("the node's address: an on-demand lookup of it subscribes to no pod").isEmpty();
    }

    static Authorization authorization(MeshState s, String key) throws Exception {
        return Authorization.parseFrom(s.authorizations().get(key).body().getValue());
    }

    @Test
    void aServiceWithoutSelectorGetsItsEndpointSlicesEndpointsAsPlainSharedAddressWorkloads() throws Exception {
        String apiServer = """
                apiVersion: v1
                kind: Service
                metadata: {name: kubernetes, namespace: default}
                spec:
                  clusterIP: 10.96.0.1
                  ports: [{name: https, port: 443, targetPort: 6443}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
                addressType: IPv4
                endpoints:
                - addresses: [172.18.0.2]
                - addresses: [172.18.0.3]
                  conditions: {ready: false}
                ports: [{name: https, port: 6443, protocol: TCP}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: gone-abcde, namespace: default, labels: {kubernetes.io/service-name: gone}}
                addressType: IPv4
                endpoints: [{addresses: [192.0.2.1]}]
                ports: [{name: http, port: 80, protocol: TCP}]
                """;
        MeshState s = state(BASE, apiServer);
        String uid = "Kubernetes/discovery.k8s.io/EndpointSlice/default/kubernetes/";
        Workload w = workloadWithUid(s, uid + "172.18.0.2");
        assertThat(w.getName()).isEqualTo("kubernetes");
        assertThat(w.getNetworkMode()).as("nothing known of the address: maybe shared")
                .isEqualTo(NetworkMode.HOST_NETWORK);
        assertThat(w.getTunnelProtocol()).isEqualTo(TunnelProtocol.NONE);
        assertThat(w.getStatus()).isEqualTo(WorkloadStatus.HEALTHY);
        assertThat(w.getServicesMap().get("default/kubernetes.default.svc.cluster.local").getPortsList())
                .extracting(p -> p.getServicePort() + "->" + p.getTargetPort()).containsExactly("443->6443");
        assertThat(workloadWithUid(s, uid + "172.18.0.3").getStatus()).isEqualTo(WorkloadStatus.UNHEALTHY);
        assertThat(s.addresses()).containsKey("default/kubernetes.default.svc.cluster.local")
                .as("a slice of no Service routes nothing").doesNotContainKey(
                        "Kubernetes/discovery.k8s.io/EndpointSlice/default/gone-abcde/192.0.2.1");
    }

    /** Pods of shop, one selected by reviews, none by legacy-db (a Service without a selector). */
    static final String DB_PODS = """
            apiVersion: v1
            kind: Pod
            metadata: {name: db-0, namespace: shop, uid: 6f1c2d3e-0000-4000-8000-000000000001, labels: {app: db}}
            spec: {nodeName: node-a, containers: [{name: db, ports: [{name: metrics, containerPort: 19090}]}]}
            status: {phase: Running, podIP: 10.244.1.5, conditions: [{type: Ready, status: "True"}]}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: db-1, namespace: shop, uid: 6f1c2d3e-0000-4000-8000-000000000002, labels: {app: db}}
            spec: {nodeName: node-a}
            status: {phase: Running, podIP: 10.244.1.6, conditions: [{type: Ready, status: "False"}]}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: reviews-0, namespace: shop, uid: 6f1c2d3e-0000-4000-8000-000000000003,
                       labels: {app: reviews}}
            spec: {nodeName: node-a, containers: [{name: app, ports: [{name: http, containerPort: 9080}]}]}
            status: {phase: Running, podIP: 10.244.1.7, conditions: [{type: Ready, status: "True"}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: legacy-db, namespace: shop}
            spec:
              clusterIP: 10.96.0.20
              ports: [{name: sql, port: 5432, targetPort: 15432}, {name: metrics, port: 9090, targetPort: metrics}]
            """;

    static final String LEGACY_DB_SLICE = """
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
              targetRef: {kind: Pod, namespace: shop, name: db-1, uid: 6f1c2d3e-0000-4000-8000-000000000002}
            ports: [{name: sql, port: 5432, protocol: TCP}]
            """;

    static final String LEGACY = "shop/legacy-db.shop.svc.cluster.local";
    static final String REVIEWS_SVC = "shop/reviews.shop.svc.cluster.local";

    static List<String> portsOf(Workload w, String service) {
        return w.getServicesMap().get(service).getPortsList().stream()
                .map(p -> p.getServicePort() + "->" + p.getTargetPort()).toList();
    }

    @Test
    void aServiceWithoutSelectorIsAddedToThePodsItsSlicesNameWithTheServicesTargetPorts() throws Exception {
        MeshState s = state(BASE, DB_PODS, LEGACY_DB_SLICE);
        String pod = "Kubernetes//Pod/shop/";
        Workload db0 = workloadWithUid(s, pod + "db-0");
        assertThat(db0.getServicesMap()).containsOnlyKeys(LEGACY);
        assertThat(portsOf(db0, LEGACY)).as("as istiod: the Service's target ports (a named one the pod's), not the"
                + " slice's port").containsExactly("5432->15432", "9090->19090");
        assertThat(db0.getStatus()).as("the pod's own readiness, not the slice's condition")
                .isEqualTo(WorkloadStatus.HEALTHY);
        Workload db1 = workloadWithUid(s, pod + "db-1");
        assertThat(portsOf(db1, LEGACY)).as("no port named metrics")
                .containsExactly("5432->15432");
        assertThat(db1.getStatus()).isEqualTo(WorkloadStatus.UNHEALTHY);
        assertThat(s.addresses()).as("no workload of the slice's own: its endpoints are pods")
                .doesNotContainKey("Kubernetes/discovery.k8s.io/EndpointSlice/shop/legacy-db-1/10.244.1.5");
        assertThat(workloadWithUid(s, pod + "reviews-0").getServicesMap()).containsOnlyKeys(REVIEWS_SVC);
    }

    @Test
    void aSliceAddsNothingToAPodItsServiceSelectsAlreadyAndAServiceWithASelectorToAPodItDoesNotSelect()
            throws Exception {
        String slices = """
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: reviews-manual, namespace: shop, labels: {kubernetes.io/service-name: reviews}}
                addressType: IPv4
                endpoints:
                - addresses: [10.244.1.7]
                  targetRef: {kind: Pod, namespace: shop, name: reviews-0, uid: 6f1c2d3e-0000-4000-8000-000000000003}
                - addresses: [10.244.1.6]
                  targetRef: {kind: Pod, namespace: shop, name: db-1, uid: 6f1c2d3e-0000-4000-8000-000000000002}
                - addresses: [10.244.1.6]
                  targetRef: {kind: Pod, namespace: shop, name: db-1, uid: 6f1c2d3e-0000-4000-8000-000000000002}
                ports: [{name: http, port: 9080, protocol: TCP}]
                """;
        MeshState without = state(BASE, DB_PODS);
        MeshState s = build(reader, new MeshStateBuilder(SETTINGS), x -> { }, BASE, DB_PODS, slices);
        String pod = "Kubernetes//Pod/shop/";
        assertThat(s.addresses().get(pod + "reviews-0").version())
                .as("selected already: the slice changes nothing of it")
                .isEqualTo(without.addresses().get(pod + "reviews-0").version());
        Workload db1 = workloadWithUid(s, pod + "db-1");
        assertThat(db1.getServicesMap()).as("as istiod: any Service whose slice names the pod and that does not"
                + " select it").containsOnlyKeys(REVIEWS_SVC);
        assertThat(portsOf(db1, REVIEWS_SVC)).as("its named target ports, which this pod does not declare")
                .isEmpty();
        assertThat(workloadWithUid(s, pod + "db-0").getServicesMap()).isEmpty();
    }

    @Test
    void aSliceOfAMissingServiceAnotherNamespaceOrAnotherPodOfTheNameChangesNothing() throws Exception {
        String slices = """
                apiVersion: v1
                kind: Namespace
                metadata: {name: other}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: legacy-db, namespace: other}
                spec:
                  clusterIP: 10.96.0.30
                  ports: [{name: sql, port: 5432}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: legacy-db-1, namespace: other, labels: {kubernetes.io/service-name: legacy-db}}
                addressType: IPv4
                endpoints:
                - addresses: [10.244.1.5]
                  targetRef: {kind: Pod, name: db-0, uid: 6f1c2d3e-0000-4000-8000-000000000001}
                - addresses: [10.244.1.6]
                  targetRef: {kind: Pod, namespace: shop, name: db-1}
                ports: [{name: sql, port: 5432, protocol: TCP}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: gone-1, namespace: shop, labels: {kubernetes.io/service-name: gone}}
                addressType: IPv4
                endpoints: [{addresses: [10.244.1.5], targetRef: {kind: Pod, namespace: shop, name: db-0,
                             uid: 6f1c2d3e-0000-4000-8000-000000000001}}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: legacy-db-old, namespace: shop, labels: {kubernetes.io/service-name: legacy-db}}
                addressType: IPv4
                endpoints:
                - addresses: [10.244.1.5]
                  targetRef: {kind: Pod, namespace: shop, name: db-0, uid: 0badc0de-0000-4000-8000-000000000000}
                """;
        MeshState s = state(BASE, DB_PODS, slices);
        String pod = "Kubernetes//Pod/shop/";
        assertThat(workloadWithUid(s, pod + "db-0").getServicesMap())
                .as("no namespace named (not the slice's then), a Service that does not exist, a predecessor's uid")
                .isEmpty();
        assertThat(workloadWithUid(s, pod + "db-1").getServicesMap())
                .as("a slice of another namespace naming it without its uid (EndpointSlicePodsTest: with it)")
                .isEmpty();
    }

    @Test
    void theNetworkIpIndexIsBuiltOnceOnTheExecutorAskedThenBeforePublishingOnceWanted() throws Exception {
        String entry = "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w1, namespace: shop}\n"
                + "spec: {address: 10.1.0.1, node: node-a}\n";
        MeshState first = state(entry);
        List<Thread> builders = new CopyOnWriteArrayList<>();
        first.onIpIndexBuild(() -> builders.add(Thread.currentThread()));
        first.prepareIpIndex();
        assertThat(first.ipIndexReady()).as("no on-demand lookup yet: nothing to prepare").isFalse();
        assertThatThrownBy(() -> first.addressNamesAt("", InetAddress.getByName("10.1.0.1")))
                .as("a lookup never builds it").isInstanceOf(IllegalStateException.class);

        // asked twice before it runs: one build, on the executor's thread
        List<Runnable> queued = new ArrayList<>();
        CompletableFuture<Void> asked = first.ipIndex(queued::add);
        assertThat(first.ipIndex(queued::add)).isSameAs(asked);
        assertThat(queued).hasSize(1);
        assertThat(asked).isNotDone();
        first.prepareIpIndex();
        assertThat(first.ipIndexReady()).as("being built elsewhere: not built again, not waited for").isFalse();
        Thread worker = new Thread(queued.get(0), "index-builder");
        worker.start();
        worker.join();
        assertThat(asked).isCompleted();
        assertThat(builders).containsExactly(worker);
        assertThat(first.addressNamesAt("", InetAddress.getByName("10.1.0.1"))).containsExactly(UID + "w1");
        assertThat(first.addressNamesAt("", InetAddress.getByName("10.1.0.9"))).isEmpty();
        assertThat(first.ipIndex(queued::add)).isCompleted();
        assertThat(queued).hasSize(1);

        // wanted now: the registry prepares each later state on its own thread before publishing it
        MeshState second = state(entry.replace("w1", "w2").replace("10.1.0.1", "10.1.0.2"));
        assertThat(second.ipIndexReady()).isFalse();
        second.onIpIndexBuild(() -> builders.add(Thread.currentThread()));
        second.prepareIpIndex();
        assertThat(second.ipIndexReady()).isTrue();
        assertThat(builders).containsExactly(worker, Thread.currentThread());
        assertThat(second.addressNamesAt("", InetAddress.getByName("10.1.0.2"))).containsExactly(UID + "w2");
    }

    @Test
    void aFailedIndexBuildFailsItsFutureAndIsTriedAgainOnTheNextAsk() throws Exception {
        MeshState s = state(BASE);
        s.onIpIndexBuild(() -> {
            throw new IllegalStateException("boom");
        });
        CompletableFuture<Void> failed = s.ipIndex(task -> {
            try {
                task.run();
            } catch (IllegalStateException expected) {
                // the executor sees it too
            }
        });
        assertThat(failed).isCompletedExceptionally();
        assertThat(s.ipIndexReady()).isFalse();
        CompletableFuture<Void> rejected = s.ipIndex(task -> {
            throw new RejectedExecutionException("closing");
        });
        assertThat(rejected).isCompletedExceptionally();

        s.onIpIndexBuild(null);
        assertThat(s.ipIndex(Runnable::run)).isCompleted();
        assertThat(s.addressNamesAt("", InetAddress.getByName("10.96.0.10")))
                .containsExactly("shop/reviews.shop.svc.cluster.local");
    }

    @Test
    void workloadEntryBecomesAWorkloadWithItsServicesAndResolvedTargetPorts() throws Exception {
        MeshState s = state(BASE);
        Workload w = workload(s, "reviews-1");
        assertThat(w.getName()).isEqualTo("reviews-1");
        assertThat(w.getServiceAccount()).isEqualTo("reviews");
        assertThat(w.getNode()).isEqualTo("node-a");
        assertThat(w.getTunnelProtocol()).as("namespace is ambient").isEqualTo(TunnelProtocol.HBONE);
        assertThat(w.getAddresses(0).toByteArray()).containsExactly(127, 0, 10, 5);
        assertThat(w.getCapacity().getValue()).isEqualTo(2);
        assertThat(w.getLocality().getZone()).isEqualTo("west");
        assertThat(w.getServicesMap()).containsOnlyKeys("shop/reviews.shop.svc.cluster.local");
        assertThat(w.getServicesMap().get("shop/reviews.shop.svc.cluster.local").getPortsList())
                .singleElement().satisfies(p -> {
                    assertThat(p.getServicePort()).isEqualTo(80);
                    assertThat(p.getTargetPort()).as("named port resolved, 'admin' undeclared").isEqualTo(9080);
                });
        var svc = Address.parseFrom(s.addresses().get("shop/reviews.shop.svc.cluster.local").body().getValue())
                .getService();
        assertThat(svc.getPortsList()).extracting(p -> p.getTargetPort()).containsExactly(0, 0);
        assertThat(svc.getAddresses(0).getAddress().toByteArray()).containsExactly(10, 96, 0, 10);
    }

    @Test
    void selectorPoliciesAreListedByTheWorkloadsTheySelectAndNodesOnlyGetWhatApplies() throws Exception {
        MeshState s = state(BASE, """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-only-sleep, namespace: shop}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/sleep]}}]}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: ns-wide, namespace: shop}
                spec: {action: DENY, rules: [{from: [{source: {namespaces: [evil]}}]}]}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: elsewhere, namespace: other}
                spec: {action: DENY, rules: [{}]}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: mesh-wide, namespace: istio-system}
                spec: {action: DENY, rules: [{from: [{source: {ipBlocks: [192.0.2.0/24]}}]}]}
                """);
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList()).containsExactly("shop/reviews-only-sleep");
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList()).isEmpty();
        assertThat(authorization(s, "istio-system/mesh-wide").getScope()).isEqualTo(Scope.GLOBAL);
        assertThat(authorization(s, "shop/ns-wide").getScope()).isEqualTo(Scope.NAMESPACE);
        assertThat(authorization(s, "shop/reviews-only-sleep").getScope()).isEqualTo(Scope.WORKLOAD_SELECTOR);

        assertThat(s.resourcesFor(TypeUrls.AUTHORIZATION, "node-a")).containsOnlyKeys(
                "istio-system/mesh-wide", "shop/ns-wide", "shop/reviews-only-sleep");
        assertThat(s.resourcesFor(TypeUrls.AUTHORIZATION, "node-b")).containsOnlyKeys(
                "istio-system/mesh-wide", "shop/ns-wide");
        assertThat(s.resourcesFor(TypeUrls.AUTHORIZATION, "node-without-workloads")).containsOnlyKeys(
                "istio-system/mesh-wide");
        assertThat(s.resourcesFor(TypeUrls.ADDRESS, "node-b")).hasSize(3);
    }

    @Test
    void peerAuthenticationInheritsAndPortLevelModesBecomeConvertedPolicies() throws Exception {
        MeshState s = state(BASE, """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: istio-system}
                spec: {mtls: {mode: STRICT}}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: db-metrics, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  portLevelMtls: {"9100": {mode: PERMISSIVE}}
                """);
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList())
                .containsExactly("istio-system/istio_converted_static_strict");
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList())
                .containsExactly("shop/converted_peer_authentication_db-metrics");
        Authorization strict = authorization(s, "istio-system/istio_converted_static_strict");
        assertThat(strict.getAction()).isEqualTo(Action.DENY);
        assertThat(strict.getRules(0).getClauses(0).getMatches(0).getNotPrincipals(0).hasPresence()).isTrue();
        Authorization converted = authorization(s, "shop/converted_peer_authentication_db-metrics");
        assertThat(converted.getRules(0).getClauses(0).getMatches(0).getNotDestinationPortsList()).containsExactly(9100);
    }

    @Test
    void aWorkloadEntrysMetadataLabelsSelectItAsIstiodMergesThemOverItsSpecLabels() throws Exception {
        // istiod (ConvertClientWorkloadEntry) selects a WorkloadEntry by its spec.labels and metadata.labels merged,
        // metadata first: `kubectl label workloadentry` must put it under its Services and policies
        MeshState s = state(BASE, """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1, namespace: shop, labels: {app: reviews, version: v2}}
                spec: {address: 127.0.10.7, ports: {http: 9080}, node: node-c}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-2, namespace: shop, labels: {app: reviews}}
                spec: {address: 127.0.10.8, labels: {app: db, tier: back}, node: node-c}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-deny-evil, namespace: shop}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  action: DENY
                  rules: [{from: [{source: {namespaces: [evil]}}]}]
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: reviews-strict, namespace: shop}
                spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}
                """);
        Workload vm1 = workload(s, "vm-1");
        assertThat(vm1.getAuthorizationPoliciesList())
                .containsExactly("shop/reviews-deny-evil", "istio-system/istio_converted_static_strict");
        assertThat(vm1.getServicesMap()).containsOnlyKeys("shop/reviews.shop.svc.cluster.local");
        assertThat(vm1.getServicesMap().get("shop/reviews.shop.svc.cluster.local").getPortsList())
                .extracting(p -> p.getServicePort() + "->" + p.getTargetPort()).containsExactly("80->9080");
        assertThat(vm1.getCanonicalName()).isEqualTo("reviews");
        assertThat(vm1.getCanonicalRevision()).isEqualTo("v2");
        Workload vm2 = workload(s, "vm-2");
        assertThat(vm2.getAuthorizationPoliciesList()).as("metadata's app: reviews wins over spec's app: db")
                .containsExactly("shop/reviews-deny-evil", "istio-system/istio_converted_static_strict");
        assertThat(vm2.getServicesMap()).containsOnlyKeys("shop/reviews.shop.svc.cluster.local");
        assertThat(s.resourcesFor(TypeUrls.AUTHORIZATION, "node-c")).containsKey("shop/reviews-deny-evil");
    }

    @Test
    void aPortLevelUnsetModeInheritsTheWorkloadsModeAsInIstio() throws Exception {
        // Istio accepts a port-level mode UNSET (or none) and istiod skips such a port: it keeps the workload's
        // mode, so reviews stays STRICT on 9080 and db stays PERMISSIVE on 5432 but STRICT on 5433
        MeshState s = state(BASE, """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: reviews-strict, namespace: shop}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  mtls: {mode: STRICT}
                  portLevelMtls: {"9080": {mode: UNSET}, "9081": {}}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: db-open, namespace: shop}
                spec:
                  selector: {matchLabels: {app: db}}
                  mtls: {mode: PERMISSIVE}
                  portLevelMtls: {"5432": {mode: UNSET}, "5433": {mode: STRICT}}
                """);
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList()).as("strict on every port")
                .containsExactly("istio-system/istio_converted_static_strict");
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList())
                .containsExactly("shop/converted_peer_authentication_db-open");
        Authorization db = authorization(s, "shop/converted_peer_authentication_db-open");
        assertThat(db.getRules(0).getClauses(0).getMatches(0).getDestinationPortsList()).containsExactly(5433);
        assertThat(db.getRules(0).getClauses(0).getMatches(0).getNotDestinationPortsList()).isEmpty();
    }

    @Test
    void aPermissiveWorkloadOverridesAStrictNamespace() throws Exception {
        MeshState s = state(BASE, """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: shop}
                spec: {mtls: {mode: STRICT}}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: db-open, namespace: shop}
                spec: {selector: {matchLabels: {app: db}}, mtls: {mode: PERMISSIVE}}
                """);
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList()).hasSize(1);
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList()).isEmpty();
    }

    @Test
    void aRecordThatBypassedValidationIsSkippedAndTheRestServed() {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (ParsedObject o : reader.read(BASE)) {
            records.put(o.key(), o.record());
        }
        ConfigRecord bad = records.get(ConfigKey.parse("WorkloadEntry/shop/db-1")).toBuilder()
                .setWorkloadEntry(records.get(ConfigKey.parse("WorkloadEntry/shop/db-1")).getWorkloadEntry()
                        .toBuilder().setAddress("not-an-ip")).build();
        records.put(ConfigKey.of(bad), bad);
        List<MeshState.Skipped> heard = new ArrayList<>();

        MeshState s = builder.build(new ConfigSnapshot(records, Map.of()), heard::add);

        assertThat(heard).containsExactly(new MeshState.Skipped("WorkloadEntry/shop/db-1",
                "untranslatable: 'not-an-ip' is not an IP address"));
        assertThat(s.skipped()).isEqualTo(heard);
        assertThat(s.addresses()).containsKey(UID + "reviews-1").doesNotContainKey(UID + "db-1");
    }

    @Test
    void aDenyPolicyWhoseIpBlockBypassedValidationDeniesWithoutItAndLooksUpNoName() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (ParsedObject o : reader.read(BASE + """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-net, namespace: shop}
                spec: {action: DENY, rules: [{from: [{source: {ipBlocks: [192.0.2.0/24]}}]}]}
                """)) {
            records.put(o.key(), o.record());
        }
        ConfigKey key = ConfigKey.parse("AuthorizationPolicy/shop/deny-net");
        ConfigRecord good = records.get(key);
        var spec = good.getAuthorizationPolicy().toBuilder();
        spec.getRulesBuilder(0).getFromBuilder(0).getSourceBuilder().setIpBlocks(0, "localhost");
        records.put(key, good.toBuilder().setAuthorizationPolicy(spec).build());
        List<MeshState.Skipped> heard = new ArrayList<>();

        io.jmesh.testing.fuzz.NameLookups.install();
        MeshState s;
        try {
            s = io.jmesh.testing.fuzz.NameLookups.forbidden(
                    () -> builder.build(new ConfigSnapshot(records, Map.of()), heard::add));
        } finally {
            io.jmesh.testing.fuzz.NameLookups.uninstall();
        }

        assertThat(heard).containsExactly(new MeshState.Skipped("AuthorizationPolicy/shop/deny-net",
                "invalid value, the DENY rule denies without this field:"
                        + " spec.rules[0].from[0].source.ipBlocks[0]: not an IP literal: localhost"));
        Authorization deny = Authorization.parseFrom(s.authorizations().get("shop/deny-net").body().getValue());
        assertThat(deny.getAction()).isEqualTo(Action.DENY);
        assertThat(deny.getRulesList()).as("one rule, restricting nothing: every peer is denied (fail closed)")
                .containsExactly(io.jmesh.proto.istio.security.Rule.getDefaultInstance());
        assertThat(s.addresses()).containsKey(UID + "reviews-1");
    }

    @Test
    void aPortThatBypassedValidationFailsClosedInADenyAndInAnAllow() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (ParsedObject o : reader.read(BASE + """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-admin, namespace: shop}
                spec:
                  action: DENY
                  rules: [{from: [{source: {namespaces: [evil]}}], to: [{operation: {ports: ["81"]}}]}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-http, namespace: shop}
                spec: {rules: [{to: [{operation: {ports: ["80"]}}]}]}
                """)) {
            records.put(o.key(), o.record());
        }
        for (String name : List.of("deny-admin", "allow-http")) {
            ConfigKey key = ConfigKey.parse("AuthorizationPolicy/shop/" + name);
            var spec = records.get(key).getAuthorizationPolicy().toBuilder();
            spec.getRulesBuilder(0).getToBuilder(0).getOperationBuilder().setPorts(0, "admin");
            records.put(key, records.get(key).toBuilder().setAuthorizationPolicy(spec).build());
        }
        List<MeshState.Skipped> heard = new ArrayList<>();

        MeshState s = builder.build(new ConfigSnapshot(records, Map.of()), heard::add);

        String why = "spec.rules[0].to[0].operation.ports[0]: 'admin' is not a port number (expected: 0-65535)";
        assertThat(heard).containsExactlyInAnyOrder(
                new MeshState.Skipped("AuthorizationPolicy/shop/deny-admin",
                        "invalid value, the DENY rule denies without this field: " + why),
                new MeshState.Skipped("AuthorizationPolicy/shop/allow-http",
                        "invalid value, the ALLOW rule is dropped: " + why));
        Authorization deny = Authorization.parseFrom(s.authorizations().get("shop/deny-admin").body().getValue());
        assertThat(deny.getRulesCount()).isEqualTo(1);
        assertThat(deny.getRules(0).getClausesList()).as("evil is denied on every port").hasSize(1);
        assertThat(deny.getRules(0).getClauses(0).getMatches(0).getNamespaces(0).getExact()).isEqualTo("evil");
        Authorization allow = Authorization.parseFrom(s.authorizations().get("shop/allow-http").body().getValue());
        assertThat(allow.getAction()).isEqualTo(Action.ALLOW);
        assertThat(allow.getRulesList()).as("no rule: it allows nothing").isEmpty();
    }

    @Test
    void aScheduledPodWithoutAddressIsNoWorkloadAndChangesNothingUntilItHasOne() {
        String policies = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: reviews-only, namespace: shop}
                spec: {selector: {matchLabels: {app: reviews}}, rules: [{}]}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict, namespace: shop}
                spec: {mtls: {mode: STRICT}}
                """;
        String pending = """
                apiVersion: v1
                kind: Pod
                metadata: {name: reviews-2, namespace: shop, uid: u2, labels: {app: reviews}}
                spec: {nodeName: node-c, serviceAccountName: reviews, containers: [{name: app, ports: [{name: http,
                       containerPort: 9080}]}]}
                status: {phase: Pending}
                """;
        String elsewhere = pending.replace("namespace: shop", "namespace: quiet").replace("reviews-2", "lone-0");
        MeshState without = state(BASE, policies);
        List<MeshState.Skipped> skipped = new ArrayList<>();
        MeshState with = build(reader, builder, skipped::add, BASE, policies, pending, elsewhere);

        assertThat(skipped).as("not a record that failed translation").isEmpty();
        assertThat(with.addresses()).as("no Address, and no Service lists it as an endpoint")
                .isEqualTo(without.addresses());
        assertThat(with.endpointNamesOf("shop/reviews.shop.svc.cluster.local"))
                .isEqualTo(without.endpointNamesOf("shop/reviews.shop.svc.cluster.local"));
        assertThat(with.authorizations()).isEqualTo(without.authorizations());
        assertThat(with.resourcesFor(TypeUrls.AUTHORIZATION, "node-c")).as("its node's ztunnel gets nothing for it")
                .isEqualTo(without.resourcesFor(TypeUrls.AUTHORIZATION, "node-c"));
        assertThat(with.addressesChangedSince(without.generation())).isEmpty();

        // its address comes: a workload on node-c, an endpoint of the Service, the policy sent to node-c
        MeshState running = build(reader, builder, s -> { }, BASE, policies,
                pending.replace("{phase: Pending}", "{phase: Running, podIP: 10.244.3.4}"), elsewhere);
        assertThat(running.addressesChangedSince(with.generation())).containsExactly("Kubernetes//Pod/shop/reviews-2");
        assertThat(running.endpointNamesOf("shop/reviews.shop.svc.cluster.local"))
                .contains("Kubernetes//Pod/shop/reviews-2");
        assertThat(running.resourcesFor(TypeUrls.AUTHORIZATION, "node-c")).containsKey("shop/reviews-only");
    }

    @Test
    void anIncrementalBuildEqualsAFreshOneAndNamesWhatChanged() {
        String other = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: far-1, namespace: far}
                spec: {address: 127.0.20.5, labels: {app: far}, node: node-c}
                """;
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(BASE, other)) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        MeshState first = builder.build(new ConfigSnapshot(records, Map.of()), s -> { });
        // one change in "shop": a policy selecting reviews; "far" keeps the same record objects
        reader.read("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: shop}
                spec: {selector: {matchLabels: {app: reviews}}, rules: [{}]}
                """).forEach(o -> records.put(o.key(), o.record()));
        MeshState second = builder.build(new ConfigSnapshot(records, Map.of()), s -> { });
        MeshState fresh = new MeshStateBuilder(SETTINGS).build(new ConfigSnapshot(records, Map.of()), s -> { });

        assertThat(second.addresses()).isEqualTo(fresh.addresses());
        assertThat(second.authorizations()).isEqualTo(fresh.authorizations());
        assertThat(second.resourcesFor(TypeUrls.AUTHORIZATION, "node-a"))
                .isEqualTo(fresh.resourcesFor(TypeUrls.AUTHORIZATION, "node-a"));
        assertThat(second.addressesChangedSince(first.generation())).containsExactly(UID + "reviews-1");
        assertThat(second.addressesChangedSince(second.generation())).isEmpty();
        assertThat(second.addressesChangedSince(first.generation() - 1)).hasSize(4);

        records.remove(ConfigKey.parse("WorkloadEntry/far/far-1"));
        MeshState third = builder.build(new ConfigSnapshot(records, Map.of()), s -> { });
        assertThat(third.addressesChangedSince(second.generation()))
                .containsExactly("Kubernetes/networking.istio.io/WorkloadEntry/far/far-1");

        // the cluster's network (the root namespace's label) reaches every namespace that uses it, and only those
        reader.read(other).forEach(o -> records.put(o.key(), o.record()));
        MeshState farBack = rebuiltAndCheckedAgainstAFreshBuild(records);
        MeshState labelled = apply(records, namespace("istio-system", "{topology.istio.io/network: net-c}"));
        String reviews = "shop/reviews.shop.svc.cluster.local";
        String far = "Kubernetes/networking.istio.io/WorkloadEntry/far/far-1";
        assertThat(labelled.addressesChangedSince(farBack.generation()))
                .containsExactlyInAnyOrder(UID + "reviews-1", UID + "db-1", reviews, far);
        MeshState shopOwn = apply(records, BASE.substring(0, BASE.indexOf("---"))
                .replace("{istio.io/dataplane-mode: ambient}", "{istio.io/dataplane-mode: ambient,"
                        + " topology.istio.io/network: net-a}"));
        assertThat(shopOwn.addressesChangedSince(labelled.generation()))
                .as("the VIP stays on the cluster's network").containsExactlyInAnyOrder(UID + "reviews-1", UID + "db-1");
        MeshState relabelled = apply(records, namespace("istio-system", "{topology.istio.io/network: net-d}"));
        assertThat(relabelled.addressesChangedSince(shopOwn.generation())).containsExactlyInAnyOrder(reviews, far);
    }

    static final String BINDING = "ambient.istio.io/waypoint-inbound-binding";

    static String gatewayClass(String name, String binding) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: " + name + "\n"
                + (binding == null ? "" : "  annotations: {" + BINDING + ": '" + binding + "'}\n")
                + "spec: {controllerName: example.com/gateway-controller}\n";
    }

    static String gateway(String ns, String name, String className, String binding) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: " + name + "\n"
                + "  namespace: " + ns + "\n"
                + (binding == null ? "" : "  annotations: {" + BINDING + ": '" + binding + "'}\n")
                + "spec: {gatewayClassName: " + className + ", listeners: [{name: proxy, port: 15088,"
                + " protocol: PROXY}]}\n";
    }

    /** A workload of {@code ns} labelled as an instance of {@code gatewayName}; in spec.labels or metadata.labels. */
    static String instance(String ns, String name, String address, String gatewayName, boolean specLabel) {
        String label = "{gateway.networking.k8s.io/gateway-name: " + gatewayName + "}";
        return "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: " + name
                + ", namespace: " + ns + (specLabel ? "" : ", labels: " + label) + "}\n"
                + "spec: {address: " + address + ", node: node-a" + (specLabel ? ", labels: " + label : "") + "}\n";
    }

    static final String INSTANCES = instance("shop", "waypoint-1", "127.0.10.20", "waypoint", true) + "---\n"
            + instance("shop", "waypoint-2", "127.0.10.21", "waypoint", false);

    static Workload workload(MeshState s, String ns, String name) throws Exception {
        return Address.parseFrom(s.addresses().get("Kubernetes/networking.istio.io/WorkloadEntry/" + ns + "/" + name)
                .body().getValue()).getWorkload();
    }

    @Test
    void servicesFollowTheirNamespacesWaypointButAWaypointNeverHasOne() throws Exception {
        MeshState s = state(BASE.replace("{istio.io/dataplane-mode: ambient}",
                "{istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}"), """
                apiVersion: v1
                kind: Service
                metadata: {name: waypoint, namespace: shop, labels: {gateway.istio.io/managed: istio.io-mesh-controller}}
                spec: {selector: {app: waypoint}, clusterIP: 10.96.0.20, ports: [{name: mesh, port: 15008}]}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: waypoint-1, namespace: shop}
                spec: {address: 127.0.10.7, node: node-a, labels: {app: waypoint, istio.io/use-waypoint: waypoint,
                       gateway.istio.io/managed: istio.io-mesh-controller}}
                ---
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: db-2, namespace: shop}
                spec: {address: 127.0.10.8, node: node-b, labels: {app: db, istio.io/use-waypoint: waypoint}}
                """);
        var reviews = Address.parseFrom(s.addresses().get("shop/reviews.shop.svc.cluster.local").body().getValue())
                .getService();
        assertThat(reviews.getWaypoint().getHostname().getHostname()).isEqualTo("waypoint.shop.svc.cluster.local");
        var waypoint = Address.parseFrom(s.addresses().get("shop/waypoint.shop.svc.cluster.local").body().getValue())
                .getService();
        assertThat(waypoint.hasWaypoint()).as("the waypoint's own service").isFalse();
        assertThat(workload(s, "waypoint-1").hasWaypoint()).as("the waypoint's own instance").isFalse();
        assertThat(workload(s, "db-2").getWaypoint().getHostname().getHostname())
                .isEqualTo("waypoint.shop.svc.cluster.local");
        assertThat(workload(s, "db-1").hasWaypoint()).as("a namespace's waypoint is for service traffic").isFalse();
    }

    static ApplicationTunnel proxy(int port) {
        return ApplicationTunnel.newBuilder().setProtocol(ApplicationTunnel.Protocol.PROXY).setPort(port).build();
    }

    @Test
    void theClassAnnotationGivesTheGatewaysInstancesAProxyTunnel() throws Exception {
        MeshState s = state(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", null));
        assertThat(workload(s, "waypoint-1").getApplicationTunnel()).as("label in spec.labels").isEqualTo(proxy(15088));
        assertThat(workload(s, "waypoint-2").getApplicationTunnel()).as("label in metadata.labels")
                .isEqualTo(proxy(15088));
        assertThat(workload(s, "reviews-1").hasApplicationTunnel()).as("not an instance").isFalse();
        assertThat(workload(s, "db-1").hasApplicationTunnel()).isFalse();
    }

    @Test
    void theGatewaysAnnotationOverridesItsClass() throws Exception {
        MeshState port = state(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", "PROXY/15099"));
        assertThat(workload(port, "waypoint-1").getApplicationTunnel()).isEqualTo(proxy(15099));
        MeshState noPort = state(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", "PROXY"));
        assertThat(workload(noPort, "waypoint-1").getApplicationTunnel()).as("0: the original target port")
                .isEqualTo(proxy(0));
        MeshState noClass = state(BASE, INSTANCES, gateway("shop", "waypoint", "missing", "PROXY/15088"));
        assertThat(workload(noClass, "waypoint-1").getApplicationTunnel()).as("the class need not exist")
                .isEqualTo(proxy(15088));
    }

    @Test
    void noneOrNoAnnotationSetsNothing() throws Exception {
        MeshState none = state(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", "NONE"));
        assertThat(workload(none, "waypoint-1").hasApplicationTunnel()).as("NONE overrides the class").isFalse();
        MeshState noneWithPort = state(BASE, INSTANCES, gatewayClass("sandwiched", "NONE/15088"),
                gateway("shop", "waypoint", "sandwiched", null));
        assertThat(workload(noneWithPort, "waypoint-1").hasApplicationTunnel()).isFalse();
        MeshState unannotated = state(BASE, INSTANCES, gatewayClass("sandwiched", null),
                gateway("shop", "waypoint", "sandwiched", null));
        assertThat(workload(unannotated, "waypoint-1").hasApplicationTunnel()).isFalse();
        assertThat(workload(unannotated, "waypoint-2")).isEqualTo(workload(state(BASE, INSTANCES), "waypoint-2"));
    }

    @Test
    void onlyInstancesOfThatGatewayInItsNamespaceGetTheTunnel() throws Exception {
        MeshState s = state(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", null), gateway("shop", "plain", "sandwiched", "NONE"),
                instance("shop", "plain-1", "127.0.10.30", "plain", true),
                instance("shop", "orphan-1", "127.0.10.31", "no-such-gateway", true),
                instance("far", "waypoint-far", "127.0.20.20", "waypoint", true));
        assertThat(workload(s, "waypoint-1").getApplicationTunnel()).isEqualTo(proxy(15088));
        assertThat(workload(s, "plain-1").hasApplicationTunnel()).as("another Gateway's instance").isFalse();
        assertThat(workload(s, "orphan-1").hasApplicationTunnel()).as("names no Gateway").isFalse();
        assertThat(workload(s, "far", "waypoint-far").hasApplicationTunnel())
                .as("same Gateway name, another namespace").isFalse();
    }

    @Test
    void changingOrDeletingTheGatewayOrItsClassRederivesTheInstances() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", null),
                instance("far", "far-1", "127.0.20.5", "waypoint", true))) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        List<String> instances = List.of(UID + "waypoint-1", UID + "waypoint-2");
        MeshState before = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        assertThat(workload(before, "waypoint-1").getApplicationTunnel()).isEqualTo(proxy(15088));

        MeshState classChanged = apply(records, gatewayClass("sandwiched", "PROXY/15099"));
        assertThat(workload(classChanged, "waypoint-1").getApplicationTunnel()).isEqualTo(proxy(15099));
        assertThat(classChanged.addressesChangedSince(before.generation()))
                .as("only the instances are pushed again").containsExactlyInAnyOrderElementsOf(instances);

        records.remove(ConfigKey.parse("GatewayClass//sandwiched"));
        MeshState classDeleted = rebuiltAndCheckedAgainstAFreshBuild(records);
        assertThat(workload(classDeleted, "waypoint-2").hasApplicationTunnel()).isFalse();
        assertThat(classDeleted.addressesChangedSince(classChanged.generation()))
                .containsExactlyInAnyOrderElementsOf(instances);

        MeshState classBack = apply(records, gatewayClass("sandwiched", "PROXY/15088"));
        assertThat(workload(classBack, "waypoint-2").getApplicationTunnel()).isEqualTo(proxy(15088));

        MeshState gatewayChanged = apply(records, gateway("shop", "waypoint", "sandwiched", "PROXY/15100"));
        assertThat(workload(gatewayChanged, "waypoint-1").getApplicationTunnel()).isEqualTo(proxy(15100));
        assertThat(gatewayChanged.addressesChangedSince(classBack.generation()))
                .containsExactlyInAnyOrderElementsOf(instances);

        MeshState otherClass = apply(records, gateway("shop", "waypoint", "plain", null));
        assertThat(workload(otherClass, "waypoint-1").hasApplicationTunnel()).as("class 'plain' does not exist")
                .isFalse();
        MeshState backToTheClass = apply(records, gateway("shop", "waypoint", "sandwiched", null));
        assertThat(workload(backToTheClass, "waypoint-1").getApplicationTunnel()).isEqualTo(proxy(15088));

        records.remove(ConfigKey.parse("Gateway/shop/waypoint"));
        MeshState gatewayDeleted = rebuiltAndCheckedAgainstAFreshBuild(records);
        assertThat(workload(gatewayDeleted, "waypoint-1").hasApplicationTunnel()).isFalse();
        assertThat(gatewayDeleted.addressesChangedSince(backToTheClass.generation()))
                .containsExactlyInAnyOrderElementsOf(instances);
        assertThat(workload(gatewayDeleted, "far", "far-1")).as("never an instance")
                .isEqualTo(workload(before, "far", "far-1"));
    }

    /** Puts the manifest's objects in {@code records} and builds incrementally. */
    MeshState apply(TreeMap<ConfigKey, ConfigRecord> records, String manifest) {
        reader.read(manifest).forEach(o -> records.put(o.key(), o.record()));
        return rebuiltAndCheckedAgainstAFreshBuild(records);
    }

    MeshState rebuiltAndCheckedAgainstAFreshBuild(TreeMap<ConfigKey, ConfigRecord> records) {
        MeshState incremental = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        MeshState fresh = new MeshStateBuilder(SETTINGS).build(new ConfigSnapshot(records, Map.of()), x -> { });
        assertThat(incremental.addresses()).isEqualTo(fresh.addresses());
        assertThat(incremental.skipped()).isEqualTo(fresh.skipped());
        return incremental;
    }

    @Test
    void aBindingThatBypassedValidationSkipsItsGatewayAndTheInstancesAreServedWithoutATunnel() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(BASE, INSTANCES, gatewayClass("sandwiched", "PROXY/15088"),
                gateway("shop", "waypoint", "sandwiched", null))) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        ConfigKey classKey = ConfigKey.parse("GatewayClass//sandwiched");
        records.put(classKey, records.get(classKey).toBuilder()
                .setMetadata(records.get(classKey).getMetadata().toBuilder().putAnnotations(BINDING, "HTTP/80"))
                .build());
        List<MeshState.Skipped> heard = new ArrayList<>();

        MeshState s = builder.build(new ConfigSnapshot(records, Map.of()), heard::add);

        assertThat(heard).containsExactly(new MeshState.Skipped("Gateway/shop/waypoint", "untranslatable:"
                + " GatewayClass sandwiched: metadata.annotations." + BINDING + ": 'HTTP/80': unknown protocol 'HTTP'"
                + " (expected: NONE or PROXY)"));
        assertThat(workload(s, "waypoint-1").hasApplicationTunnel()).isFalse();
        assertThat(workload(s, "reviews-1")).isEqualTo(workload(state(BASE), "reviews-1"));
    }

    // --- multi-network: each workload's network, and the east-west gateway of that network

    static String namespace(String name, String labels) {
        return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + ", labels: " + labels + "}\n";
    }

    static String entry(String ns, String name, String address, String network) {
        return "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: " + name + ", namespace: "
                + ns + "}\nspec: {address: " + address + ", node: node-a"
                + (network == null ? "" : ", network: " + network) + "}\n";
    }

    static String eastWest(String ns, String name, String network, String address, int hbonePort) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: " + name + "\n"
                + "  namespace: " + ns + "\n  labels: {topology.istio.io/network: " + network + "}\n"
                + "spec:\n  gatewayClassName: istio-east-west\n"
                + "  listeners: [{name: mesh, port: " + hbonePort + ", protocol: HBONE}]\n"
                + "  addresses: [{type: IPAddress, value: '" + address + "'}]\n";
    }

    /** shop is on net-a, west on net-b; shop/vm-b says net-b itself; far (no Namespace) and plain: the default. */
    static final String NETWORKS = String.join("---\n",
            namespace("shop", "{istio.io/dataplane-mode: ambient, topology.istio.io/network: net-a}"),
            entry("shop", "reviews-1", "127.0.10.5", null),
            entry("shop", "vm-b", "10.1.0.5", "net-b"),
            namespace("west", "{topology.istio.io/network: net-b}"),
            entry("west", "west-1", "10.1.0.6", null),
            entry("far", "far-1", "127.0.20.5", null),
            namespace("plain", "{}"),
            entry("plain", "plain-1", "127.0.30.5", null));
    static final String EW_A = eastWest("istio-system", "ew-a", "net-a", "192.0.2.1", 15008);
    static final String EW_B = eastWest("istio-system", "ew-b", "net-b", "192.0.2.2", 15009);
    static final List<String> ON_NET_B = List.of(UID + "vm-b",
            "Kubernetes/networking.istio.io/WorkloadEntry/west/west-1");

    static GatewayAddress networkGateway(String network, int a, int b, int c, int d, int port) {
        return GatewayAddress.newBuilder().setAddress(NetworkAddress.newBuilder().setNetwork(network)
                .setAddress(ByteString.copyFrom(new byte[] {(byte) a, (byte) b, (byte) c, (byte) d})))
                .setHboneMtlsPort(port).build();
    }

    @Test
    void aWorkloadIsOnItsEntrysNetworkElseItsNamespacesElseTheDefault() throws Exception {
        MeshState s = state(NETWORKS);
        assertThat(workload(s, "reviews-1").getNetwork()).as("namespace label").isEqualTo("net-a");
        assertThat(workload(s, "vm-b").getNetwork()).as("spec.network wins").isEqualTo("net-b");
        assertThat(workload(s, "west", "west-1").getNetwork()).as("namespace label").isEqualTo("net-b");
        assertThat(workload(s, "far", "far-1").getNetwork()).as("no Namespace object").isEmpty();
        assertThat(workload(s, "plain", "plain-1").getNetwork()).as("no label").isEmpty();
        assertThat(s.addresses().values()).as("no Gateway, no network gateway").allSatisfy(r ->
                assertThat(Address.parseFrom(r.body().getValue()).getWorkload().hasNetworkGateway()).isFalse());
    }

    static final String FAR = "Kubernetes/networking.istio.io/WorkloadEntry/far/far-1";
    static final String PLAIN = "Kubernetes/networking.istio.io/WorkloadEntry/plain/plain-1";
    static final String PLAIN_SERVICE = "plain/web.plain.svc.cluster.local";
    /** A Service with a VIP and a headless one in "plain". */
    static final String PLAIN_SERVICES = """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: plain}
            spec: {selector: {app: web}, clusterIP: 10.96.0.30, ports: [{port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: headless, namespace: plain}
            spec: {selector: {app: web}, clusterIP: None, ports: [{port: 80}]}
            """;

    static Service service(MeshState s, String name) throws Exception {
        return Address.parseFrom(s.addresses().get(name).body().getValue()).getService();
    }

    @Test
    void theRootNamespacesLabelIsTheClustersNetworkOfUnlabelledWorkloadsAndOfEveryVip() throws Exception {
        MeshState s = state(NETWORKS, PLAIN_SERVICES, namespace("istio-system", "{topology.istio.io/network: net-c}"),
                entry("istio-system", "sys-1", "127.0.40.5", null));
        assertThat(workload(s, "far", "far-1").getNetwork()).as("no Namespace object: the cluster's").isEqualTo("net-c");
        assertThat(workload(s, "plain", "plain-1").getNetwork()).as("unlabelled namespace: the cluster's")
                .isEqualTo("net-c");
        assertThat(workload(s, "istio-system", "sys-1").getNetwork()).isEqualTo("net-c");
        assertThat(workload(s, "reviews-1").getNetwork()).as("its namespace's label first (jmesh)").isEqualTo("net-a");
        assertThat(workload(s, "vm-b").getNetwork()).as("spec.network first").isEqualTo("net-b");
        assertThat(service(s, PLAIN_SERVICE).getAddressesList()).singleElement().satisfies(vip -> {
            assertThat(vip.getNetwork()).isEqualTo("net-c");
            assertThat(vip.getAddress().toByteArray()).containsExactly(10, 96, 0, 30);
        });
        assertThat(service(s, "plain/headless.plain.svc.cluster.local").getAddressesList()).isEmpty();

        MeshState unlabelled = state(NETWORKS, PLAIN_SERVICES, namespace("istio-system", "{}"));
        assertThat(workload(unlabelled, "far", "far-1").getNetwork()).isEmpty();
        assertThat(service(unlabelled, PLAIN_SERVICE).getAddresses(0).getNetwork()).isEmpty();
    }

    @Test
    void changingTheClustersNetworkPushesExactlyTheWorkloadsWithoutANetworkOfTheirOwnAndTheServicesWithVips()
            throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(NETWORKS, PLAIN_SERVICES, EW_A)) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        MeshState before = rebuiltAndCheckedAgainstAFreshBuild(records);
        List<String> onTheClusters = List.of(FAR, PLAIN, PLAIN_SERVICE);

        MeshState created = apply(records, namespace("istio-system", "{topology.istio.io/network: net-c}"));
        assertThat(created.addressesChangedSince(before.generation()))
                .as("the root Namespace appears, labelled").containsExactlyInAnyOrderElementsOf(onTheClusters);
        assertThat(workload(created, "plain", "plain-1").getNetwork()).isEqualTo("net-c");

        MeshState toNetA = apply(records, namespace("istio-system", "{topology.istio.io/network: net-a}"));
        assertThat(toNetA.addressesChangedSince(created.generation()))
                .containsExactlyInAnyOrderElementsOf(onTheClusters);
        assertThat(workload(toNetA, "far", "far-1").getNetworkGateway()).as("net-a's east-west gateway")
                .isEqualTo(networkGateway("net-a", 192, 0, 2, 1, 15008));
        assertThat(service(toNetA, PLAIN_SERVICE).getAddresses(0).getNetwork()).isEqualTo("net-a");
        String west = "Kubernetes/networking.istio.io/WorkloadEntry/west/west-1";
        assertThat(toNetA.addresses().get(west)).as("a namespace not using the cluster's network is not recomputed")
                .isSameAs(created.addresses().get(west));

        MeshState gatewayMoved = apply(records, eastWest("istio-system", "ew-a", "net-a", "192.0.2.9", 15008));
        assertThat(gatewayMoved.addressesChangedSince(toNetA.generation()))
                .as("the gateway of the cluster's network: its workloads, not the VIPs")
                .containsExactlyInAnyOrder(UID + "reviews-1", FAR, PLAIN);

        MeshState sameLabelOtherObject = apply(records, namespace("istio-system",
                "{topology.istio.io/network: net-a, team: mesh}"));
        assertThat(sameLabelOtherObject.addressesChangedSince(gatewayMoved.generation())).isEmpty();

        MeshState dropped = apply(records, namespace("istio-system", "{}"));
        assertThat(dropped.addressesChangedSince(sameLabelOtherObject.generation()))
                .containsExactlyInAnyOrderElementsOf(onTheClusters);
        assertThat(workload(dropped, "far", "far-1")).isEqualTo(workload(before, "far", "far-1"));
        assertThat(service(dropped, PLAIN_SERVICE)).isEqualTo(service(before, PLAIN_SERVICE));

        MeshState relabelled = apply(records, namespace("istio-system", "{topology.istio.io/network: net-c}"));
        records.remove(ConfigKey.parse("Namespace//istio-system"));
        MeshState deleted = rebuiltAndCheckedAgainstAFreshBuild(records);
        assertThat(deleted.addressesChangedSince(relabelled.generation()))
                .containsExactlyInAnyOrderElementsOf(onTheClusters);
    }

    @Test
    void workloadsOnANetworkGetItsEastWestGatewayAndTheDefaultNetworkNone() throws Exception {
        MeshState s = state(NETWORKS, EW_A, EW_B, entry("istio-system", "ew-b-1", "192.0.2.2", "net-b"));
        GatewayAddress netA = networkGateway("net-a", 192, 0, 2, 1, 15008);
        GatewayAddress netB = networkGateway("net-b", 192, 0, 2, 2, 15009);
        assertThat(workload(s, "reviews-1").getNetworkGateway()).isEqualTo(netA);
        assertThat(workload(s, "vm-b").getNetworkGateway()).isEqualTo(netB);
        assertThat(workload(s, "west", "west-1").getNetworkGateway()).isEqualTo(netB);
        assertThat(workload(s, "istio-system", "ew-b-1").getNetworkGateway()).as("the gateway's own instance")
                .isEqualTo(netB);
        assertThat(workload(s, "far", "far-1").hasNetworkGateway()).isFalse();
        assertThat(workload(s, "plain", "plain-1").hasNetworkGateway()).isFalse();
        assertThat(s.skipped()).isEmpty();
    }

    @Test
    void creatingChangingOrDeletingANetworkGatewayPushesExactlyTheWorkloadsOnItsNetwork() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(NETWORKS, EW_A)) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        MeshState before = builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
        assertThat(workload(before, "vm-b").hasNetworkGateway()).isFalse();

        MeshState created = apply(records, EW_B);
        assertThat(workload(created, "west", "west-1").getNetworkGateway())
                .isEqualTo(networkGateway("net-b", 192, 0, 2, 2, 15009));
        assertThat(created.addressesChangedSince(before.generation())).containsExactlyInAnyOrderElementsOf(ON_NET_B);

        MeshState moved = apply(records, eastWest("istio-system", "ew-b", "net-b", "192.0.2.3", 15008));
        assertThat(workload(moved, "vm-b").getNetworkGateway())
                .isEqualTo(networkGateway("net-b", 192, 0, 2, 3, 15008));
        assertThat(moved.addressesChangedSince(created.generation())).containsExactlyInAnyOrderElementsOf(ON_NET_B);

        MeshState otherNetwork = apply(records, eastWest("istio-system", "ew-a", "net-a", "192.0.2.9", 15008));
        assertThat(otherNetwork.addressesChangedSince(moved.generation())).containsExactly(UID + "reviews-1");

        records.remove(ConfigKey.parse("Gateway/istio-system/ew-b"));
        MeshState deleted = rebuiltAndCheckedAgainstAFreshBuild(records);
        assertThat(workload(deleted, "vm-b").hasNetworkGateway()).isFalse();
        assertThat(workload(deleted, "west", "west-1")).isEqualTo(workload(before, "west", "west-1"));
        assertThat(deleted.addressesChangedSince(otherNetwork.generation()))
                .containsExactlyInAnyOrderElementsOf(ON_NET_B);

        MeshState westMoves = apply(records, namespace("west", "{topology.istio.io/network: net-a}"));
        assertThat(workload(westMoves, "west", "west-1").getNetworkGateway())
                .isEqualTo(networkGateway("net-a", 192, 0, 2, 9, 15008));
    }

    @Test
    void theFirstGatewayByNamespaceAndNameServesANetworkAndTheOthersAreReported() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(NETWORKS, EW_B, eastWest("istio-system", "ew-b2", "net-b", "192.0.2.4", 15008),
                eastWest("aaa", "zz", "net-b", "192.0.2.5", 15008))) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        List<MeshState.Skipped> heard = new ArrayList<>();
        MeshState first = builder.build(new ConfigSnapshot(records, Map.of()), heard::add);
        assertThat(workload(first, "vm-b").getNetworkGateway()).as("namespace aaa sorts first")
                .isEqualTo(networkGateway("net-b", 192, 0, 2, 5, 15008));
        String reason = "network 'net-b' already has its east-west gateway: Gateway aaa/zz (the first by namespace"
                + " and name)";
        assertThat(heard).containsExactly(new MeshState.Skipped("Gateway/istio-system/ew-b", reason),
                new MeshState.Skipped("Gateway/istio-system/ew-b2", reason));
        assertThat(first.skipped()).isEqualTo(heard);

        records.remove(ConfigKey.parse("Gateway/aaa/zz"));
        MeshState second = rebuiltAndCheckedAgainstAFreshBuild(records);
        assertThat(workload(second, "west", "west-1").getNetworkGateway()).as("then by name")
                .isEqualTo(networkGateway("net-b", 192, 0, 2, 2, 15009));
        assertThat(second.skipped()).containsExactly(new MeshState.Skipped("Gateway/istio-system/ew-b2",
                "network 'net-b' already has its east-west gateway: Gateway istio-system/ew-b (the first by"
                        + " namespace and name)"));
        assertThat(second.addressesChangedSince(first.generation())).containsExactlyInAnyOrderElementsOf(ON_NET_B);
    }

    @Test
    void aNetworkGatewayThatBypassedValidationIsSkippedAndTheNextServes() throws Exception {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : List.of(NETWORKS, EW_B, eastWest("istio-system", "ew-b2", "net-b", "192.0.2.4", 15008))) {
            reader.read(m).forEach(o -> records.put(o.key(), o.record()));
        }
        ConfigKey key = ConfigKey.parse("Gateway/istio-system/ew-b");
        records.put(key, records.get(key).toBuilder().setGateway(records.get(key).getGateway().toBuilder()
                .clearAddresses()).build());
        List<MeshState.Skipped> heard = new ArrayList<>();

        MeshState s = builder.build(new ConfigSnapshot(records, Map.of()), heard::add);

        assertThat(heard).containsExactly(new MeshState.Skipped("Gateway/istio-system/ew-b",
                "untranslatable: network gateway without an IP address (spec.addresses)"));
        assertThat(workload(s, "vm-b").getNetworkGateway()).isEqualTo(networkGateway("net-b", 192, 0, 2, 4, 15008));
    }

    @Test
    void identicalSnapshotsGiveIdenticalVersions() {
        assertThat(state(BASE).addresses()).isEqualTo(state(BASE).addresses());
    }
}
