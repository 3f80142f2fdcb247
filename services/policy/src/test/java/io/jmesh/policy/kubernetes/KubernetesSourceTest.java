package io.jmesh.policy.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesConnection;
import io.jmesh.policy.registry.PolicyRegistry;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.source.ConfigApplier;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.Resource;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The cluster as a source, end to end: fabric8's mock API server in CRUD mode (objects created, changed and deleted
 * through the real client; lists and WebSocket watches served as by an API server) → {@link KubernetesSource} →
 * validation → the config log on a real Kafka broker → a replica's discovery state.
 */
@Timeout(120)
class KubernetesSourceTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static final MeshSettings SETTINGS = new MeshSettings("istio-system", "cluster.local", "Kubernetes",
            "cluster.local");
    static final String REVIEWS = "Kubernetes//Pod/shop/reviews-v1-7d4c9-x2x7q";
    static final String PENDING = "Kubernetes//Pod/shop/ratings-v1-5b8f6-pzq4m";
    static final ResourceDefinitionContext PEER_AUTHN_V1BETA1 = new ResourceDefinitionContext.Builder()
            .withGroup("security.istio.io").withVersion("v1beta1").withKind("PeerAuthentication")
            .withPlural("peerauthentications").withNamespaced(true).build();
    static final ResourceDefinitionContext SERVICE_ENTRY = new ResourceDefinitionContext.Builder()
            .withGroup("networking.istio.io").withVersion("v1").withKind("ServiceEntry")
            .withPlural("serviceentries").withNamespaced(true).build();
    static final ResourceDefinitionContext AUTHZ = new ResourceDefinitionContext.Builder()
            .withGroup("security.istio.io").withVersion("v1").withKind("AuthorizationPolicy")
            .withPlural("authorizationpolicies").withNamespaced(true).build();

    KubernetesApiServer k8s;
    String topic;
    ConfigLogWriter writer;
    PolicyRegistry registry;
    KubernetesSource source;
    PrometheusRegistry metrics = new PrometheusRegistry();

    @BeforeEach
    void setUp() throws Exception {
        k8s = new KubernetesApiServer();
        // the Gateway API's CRDs are not installed in this cluster
        k8s.notServed("/apis/gateway.networking.k8s.io/v1/gateways?limit=500");
        k8s.notServed("/apis/gateway.networking.k8s.io/v1/gatewayclasses?limit=500");
        k8s.notServed("/apis/gateway.networking.k8s.io/v1beta1/gateways?limit=500");
        k8s.notServed("/apis/gateway.networking.k8s.io/v1beta1/gatewayclasses?limit=500");
        // and its Istio is older than 1.22: PeerAuthentication is served as v1beta1 only
        k8s.notServed("/apis/security.istio.io/v1/peerauthentications?limit=500");
        topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        writer = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer");
        registry = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica", SETTINGS, new PrometheusRegistry());
        registry.ready().get(60, TimeUnit.SECONDS);

        k8s.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop")
                .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
        k8s.client().nodes().resource(new NodeBuilder().withNewMetadata().withName("node-a")
                .addToLabels("topology.kubernetes.io/region", "eu-west1").addToLabels("topology.kubernetes.io/zone",
                        "eu-west1-b").addToLabels("kubernetes.io/hostname", "node-a").endMetadata().withNewStatus()
                .addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus().build()).create();
        k8s.client().pods().inNamespace("shop").resource(reviewsPod()).create();
        k8s.client().pods().inNamespace("shop").resource(pendingPod()).create();
        k8s.client().pods().inNamespace("shop").resource(new PodBuilder().withNewMetadata().withName("node-exporter")
                .withNamespace("shop").endMetadata().withNewSpec().withHostNetwork(true).withNodeName("node-a")
                .endSpec().withNewStatus().withPhase("Running").withPodIP("192.168.1.10").endStatus().build())
                .create();
        k8s.client().services().inNamespace("shop").resource(new ServiceBuilder().withNewMetadata()
                .withName("reviews").withNamespace("shop").endMetadata().withNewSpec().addToSelector("app", "reviews")
                .withClusterIP("10.96.0.10").withClusterIPs("10.96.0.10").withIpFamilies("IPv4")
                .withSessionAffinity("None").withType("ClusterIP").addNewPort().withName("http").withPort(9080)
                .withProtocol("TCP").withNewTargetPort("http").endPort().endSpec().build()).create();
        // the API server's own service: no selector, its endpoints in a slice the API server writes
        k8s.client().services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata()
                .withName("kubernetes").withNamespace("default").endMetadata().withNewSpec().withClusterIP("10.96.0.1")
                .addNewPort().withName("https").withPort(443).withNewTargetPort(6443).endPort().endSpec().build())
                .create();
        k8s.client().discovery().v1().endpointSlices().inNamespace("default").resource(new EndpointSliceBuilder()
                .withNewMetadata().withName("kubernetes").withNamespace("default")
                .addToLabels("kubernetes.io/service-name", "kubernetes").endMetadata().withAddressType("IPv4")
                .addNewEndpoint().withAddresses("172.18.0.2").withNewConditions().withReady(true).endConditions()
                .endEndpoint().addNewPort().withName("https").withPort(6443).withProtocol("TCP").endPort().build())
                .create();
        // and the controller's slice of a Service with a selector: pods only, never written
        k8s.client().discovery().v1().endpointSlices().inNamespace("shop").resource(new EndpointSliceBuilder()
                .withNewMetadata().withName("reviews-x7k2p").withNamespace("shop")
                .addToLabels("kubernetes.io/service-name", "reviews")
                .addToLabels("endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io")
                .endMetadata().withAddressType("IPv4")
                .addNewEndpoint().withAddresses("10.244.1.5").withNewTargetRef().withKind("Pod")
                .withName("reviews-v1-7d4c9-x2x7q").withNamespace("shop").endTargetRef().endEndpoint()
                .addNewPort().withName("http").withPort(9080).withProtocol("TCP").endPort().build()).create();
        k8s.client().genericKubernetesResources(AUTHZ).inNamespace("shop").resource(authorizationPolicy(
                "cluster.local/ns/shop/sa/productpage")).create();
        // an external API, with the VIP Istio's IP auto-allocation recorded in its status
        k8s.client().genericKubernetesResources(SERVICE_ENTRY).inNamespace("shop").resource(
                new GenericKubernetesResourceBuilder().withApiVersion("networking.istio.io/v1")
                        .withKind("ServiceEntry").withNewMetadata().withName("payments").withNamespace("shop")
                        .endMetadata().addToAdditionalProperties("spec", Map.of("hosts", List.of("api.payments.example"),
                                "resolution", "DNS", "ports", List.of(Map.of("number", 443, "name", "https",
                                        "protocol", "TLS"))))
                        .addToAdditionalProperties("status", Map.of("addresses", List.of(Map.of("value",
                                "240.240.0.1", "host", "api.payments.example")))).build()).create();
        k8s.client().genericKubernetesResources(PEER_AUTHN_V1BETA1).inNamespace("shop").resource(
                new GenericKubernetesResourceBuilder().withApiVersion("security.istio.io/v1beta1")
                        .withKind("PeerAuthentication").withNewMetadata().withName("strict").withNamespace("shop")
                        .endMetadata().addToAdditionalProperties("spec", Map.of("mtls", Map.of("mode", "STRICT")))
                        .build()).create();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (source != null) {
            source.close();
        }
        registry.close();
        writer.close();
        k8s.close();
    }

    KubernetesSource start() throws Exception {
        KubernetesApi api = KubernetesApi.create(new KubernetesConnection(k8s.url(), "", "", Duration.ofSeconds(10)));
        source = new KubernetesSource(api, "Kubernetes", WatchedKind.NAMES, null, metrics);
        source.start(applier(writer, registry));
        source.synced().get(60, TimeUnit.SECONDS);
        return source;
    }

    @Test
    void registersPodsServicesNamespacesAndPoliciesAsIstiodDoes() throws Exception {
        start();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) != null
                && registry.state().authorizations().containsKey("shop/allow-productpage"));

        Workload w = workload(REVIEWS);
        assertThat(w.getName()).isEqualTo("reviews-v1-7d4c9-x2x7q");
        assertThat(w.getWorkloadName()).as("the Deployment, from the ReplicaSet's name").isEqualTo("reviews-v1");
        assertThat(w.getCanonicalName()).isEqualTo("reviews");
        assertThat(w.getCanonicalRevision()).isEqualTo("v1");
        assertThat(w.getNode()).isEqualTo("node-a");
        assertThat(w.getServiceAccount()).isEqualTo("reviews");
        assertThat(w.getTunnelProtocol()).as("its namespace is ambient").isEqualTo(TunnelProtocol.HBONE);
        assertThat(w.getStatus()).isEqualTo(WorkloadStatus.HEALTHY);
        assertThat(w.getLocality().getRegion() + "/" + w.getLocality().getZone()).as("its node's topology labels")
                .isEqualTo("eu-west1/eu-west1-b");
        assertThat(registry.snapshot().get(ConfigKey.parse("Node//node-a")).getMetadata().getLabelsMap())
                .as("a node keeps its topology labels only").containsOnlyKeys("topology.kubernetes.io/region",
                        "topology.kubernetes.io/zone");
        assertThat(w.getAddressesList()).extracting(a -> InetAddress.getByAddress(a.toByteArray()).getHostAddress())
                .containsExactly("10.244.1.5", "fd00:0:0:0:0:0:0:5");
        assertThat(w.getServicesMap().get("shop/reviews.shop.svc.cluster.local").getPorts(0).getTargetPort())
                .as("the service's named target port, from the container's port").isEqualTo(9080);
        assertThat(w.getAuthorizationPoliciesList()).contains("shop/allow-productpage");
        assertThat(registry.state().addresses()).containsKey("shop/reviews.shop.svc.cluster.local");
        assertThat(registry.snapshot().get(ConfigKey.parse("Pod/shop/reviews-v1-7d4c9-x2x7q")).getSource())
                .isEqualTo("kubernetes:Kubernetes");

        assertThat(registry.state().addresses().keySet()).as("no address yet")
                .doesNotContain(PENDING);
        Workload hostNetwork = workload("Kubernetes//Pod/shop/node-exporter");
        assertThat(hostNetwork.getNetworkMode()).as("on its node's address").isEqualTo(NetworkMode.HOST_NETWORK);
        assertThat(hostNetwork.getTunnelProtocol()).as("nothing captures the host's network, ambient namespace or not")
                .isEqualTo(TunnelProtocol.NONE);
        Workload apiServer = workload("Kubernetes/discovery.k8s.io/EndpointSlice/default/kubernetes/172.18.0.2");
        assertThat(apiServer.getServicesMap()).as("the API server's endpoint from its slice, behind its service")
                .containsKey("default/kubernetes.default.svc.cluster.local");
        assertThat(apiServer.getNetworkMode()).isEqualTo(NetworkMode.HOST_NETWORK);
        assertThat(registry.state().addresses()).containsKey("default/kubernetes.default.svc.cluster.local");
        Workload external = workload("Kubernetes/networking.istio.io/ServiceEntry/shop/payments/api.payments.example");
        assertThat(external.getHostname()).as("resolved by ztunnel").isEqualTo("api.payments.example");
        Address api = Address.parseFrom(registry.state().addresses().get("shop/api.payments.example").body()
                .getValue());
        assertThat(api.getService().getAddressesList()).as("the VIP Istio allocated, from the entry's status")
                .singleElement().satisfies(a -> assertThat(InetAddress.getByAddress(a.getAddress().toByteArray())
                        .getHostAddress()).isEqualTo("240.240.0.1"));
        assertThat(registry.snapshot().get(ConfigKey.parse("EndpointSlice/shop/reviews-x7k2p")))
                .as("a slice of pods only is not written").isNull();
        assertThat(counter("policy_kubernetes_lists", Map.of("kind", "Gateway", "outcome", "not_installed")))
                .isGreaterThanOrEqualTo(1);
        assertThat(counter("policy_kubernetes_lists", Map.of("kind", "Pod", "outcome", "ok"))).isEqualTo(1);
        assertThat(registry.snapshot().get(ConfigKey.parse("PeerAuthentication/shop/strict")))
                .as("listed at v1beta1, the version the cluster serves").isNotNull();
        assertThat(registry.snapshot().get(ConfigKey.parse("PeerAuthentication/shop/strict")).getMetadata()
                .getCreationTimestamp().getSeconds()).as("the API server's creationTimestamp: of competing policies"
                + " the oldest applies").isPositive();
    }

    @Test
    void followsTheClusterThroughItsWatches() throws Exception {
        start();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) != null);

        // the pending pod is scheduled and gets its address: a workload from then on
        Pod pending = pendingPod();
        pending.getStatus().setPodIP("10.244.2.7");
        pending.getStatus().setPhase("Running");
        k8s.client().pods().inNamespace("shop").resource(pending).update();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(PENDING) != null);
        assertThat(workload(PENDING).getStatus()).as("not ready").isEqualTo(WorkloadStatus.UNHEALTHY);

        // the node is relabelled: its pods' locality follows
        k8s.client().nodes().withName("node-a").edit(n -> new NodeBuilder(n).editMetadata()
                .addToLabels("topology.kubernetes.io/zone", "eu-west1-c").endMetadata().build());
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS).getLocality().getZone()
                .equals("eu-west1-c"));

        // the namespace leaves the mesh: its workloads are plain (no HBONE) from then on
        k8s.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop").endMetadata()
                .build()).update();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS).getTunnelProtocol()
                == TunnelProtocol.NONE);

        // a policy edited into something invalid is refused; its last good version stays
        k8s.client().genericKubernetesResources(AUTHZ).inNamespace("shop").resource(new GenericKubernetesResourceBuilder(
                authorizationPolicy("cluster.local/ns/shop/sa/productpage")).addToAdditionalProperties("spec",
                Map.of("rules", List.of(Map.of("from", List.of(Map.of("source", Map.of("principles",
                        List.of("x"))))))))
                .build()).update();
        // a finished pod and a deleted one are workloads no more
        Pod done = reviewsPod();
        done.getStatus().setPhase("Succeeded");
        k8s.client().pods().inNamespace("shop").resource(done).update();
        k8s.client().pods().inNamespace("shop").withName("ratings-v1-5b8f6-pzq4m").delete();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) == null && workload(PENDING) == null);
        assertThat(registry.state().authorizations()).containsKey("shop/allow-productpage");
        assertThat(registry.snapshot().get(ConfigKey.parse("AuthorizationPolicy/shop/allow-productpage"))
                .getAuthorizationPolicy().getRules(0).getFrom(0).getSource().getPrincipalsList())
                .containsExactly("cluster.local/ns/shop/sa/productpage");
        assertThat(counter("policy_kubernetes_events", Map.of("kind", "Pod", "type", "DELETED")))
                .isGreaterThanOrEqualTo(1);
    }

    @Test
    void aScheduledPodWithoutAddressIsPlacedOnItsNodeButIsNoWorkloadUntilItHasOne() throws Exception {
        k8s.client().services().inNamespace("shop").resource(new ServiceBuilder().withNewMetadata()
                .withName("ratings").withNamespace("shop").endMetadata().withNewSpec().addToSelector("app", "ratings")
                .withClusterIP("10.96.0.12").addNewPort().withName("http").withPort(9080).withNewTargetPort(9080)
                .endPort().endSpec().build()).create();
        k8s.client().genericKubernetesResources(AUTHZ).inNamespace("shop").resource(
                new GenericKubernetesResourceBuilder().withApiVersion("security.istio.io/v1")
                        .withKind("AuthorizationPolicy").withNewMetadata().withName("allow-ratings")
                        .withNamespace("shop").endMetadata().addToAdditionalProperties("spec", Map.of("selector",
                                Map.of("matchLabels", Map.of("app", "ratings")), "rules", List.of(Map.of())))
                        .build()).create();
        ConfigKey pendingKey = ConfigKey.parse("Pod/shop/ratings-v1-5b8f6-pzq4m");
        String ratings = "shop/ratings.shop.svc.cluster.local";
        start();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) != null
                && registry.state().addresses().containsKey(ratings)
                && registry.state().authorizations().containsKey("shop/allow-ratings"));

        // scheduled on node-b, Pending, no IP yet: in-pod mode hands it to node-b's ztunnel now, which asks the ca
        // for its certificate; the ca places the record's node and service account
        ConfigRecord placed = registry.snapshot().get(pendingKey);
        assertThat(placed).as("a scheduled pod without an IP is in the config log, for ca's placement").isNotNull();
        assertThat(placed.getWorkloadEntry().getNode()).isEqualTo("node-b");
        assertThat(placed.getWorkloadEntry().getServiceAccount()).isEqualTo("ratings");
        assertThat(placed.getWorkloadEntry().getAddress()).isEmpty();
        // but nothing of the mesh sees it before it has an address
        assertThat(workload(PENDING)).as("no Address to ztunnels").isNull();
        assertThat(registry.state().endpointNamesOf(ratings)).as("no endpoint of its Service").isEmpty();
        assertThat(registry.state().resourcesFor(TypeUrls.AUTHORIZATION, "node-b"))
                .as("its node's ztunnel is not sent the policies selecting it").doesNotContainKey("shop/allow-ratings");
        assertThat(registry.state().skipped()).as("not a translation failure either")
                .noneMatch(s -> s.key().equals(pendingKey.toString()));

        // its address comes: a workload, its Service's endpoint, its policies on its node
        Pod running = pendingPod();
        running.getStatus().setPodIP("10.244.2.7");
        running.getStatus().setPhase("Running");
        k8s.client().pods().inNamespace("shop").resource(running).update();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(PENDING) != null);
        assertThat(registry.state().endpointNamesOf(ratings)).containsExactly(PENDING);
        assertThat(registry.state().resourcesFor(TypeUrls.AUTHORIZATION, "node-b")).containsKey("shop/allow-ratings");

        // it finishes: neither a workload nor placed (its record is deleted)
        running.getStatus().setPhase("Succeeded");
        k8s.client().pods().inNamespace("shop").resource(running).update();
        await().atMost(Duration.ofSeconds(30)).until(() -> registry.snapshot().get(pendingKey) == null);
        assertThat(workload(PENDING)).isNull();
    }

    @Test
    void aServiceWithoutSelectorWhoseSliceNamesAPodIsAnEndpointOfThatPod() throws Exception {
        String uid = k8s.client().pods().inNamespace("shop").withName("reviews-v1-7d4c9-x2x7q").get().getMetadata()
                .getUid();
        k8s.client().services().inNamespace("shop").resource(new ServiceBuilder().withNewMetadata()
                .withName("reviews-legacy").withNamespace("shop").endMetadata().withNewSpec()
                .withClusterIP("10.96.0.11").addNewPort().withName("http").withPort(9081).withNewTargetPort(9080)
                .endPort().endSpec().build()).create();
        // mirrored from an Endpoints object written by hand: the pod by targetRef
        k8s.client().discovery().v1().endpointSlices().inNamespace("shop").resource(new EndpointSliceBuilder()
                .withNewMetadata().withName("reviews-legacy-1").withNamespace("shop")
                .addToLabels("kubernetes.io/service-name", "reviews-legacy")
                .addToLabels("endpointslice.kubernetes.io/managed-by", "endpointslicemirroring-controller.k8s.io")
                .endMetadata().withAddressType("IPv4").addNewEndpoint().withAddresses("10.244.1.5")
                .withNewTargetRef().withKind("Pod").withName("reviews-v1-7d4c9-x2x7q").withNamespace("shop")
                .withUid(uid).endTargetRef().endEndpoint()
                .addNewPort().withName("http").withPort(9080).withProtocol("TCP").endPort().build()).create();
        String legacy = "shop/reviews-legacy.shop.svc.cluster.local";
        start();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) != null
                && workload(REVIEWS).getServicesMap().containsKey(legacy));
        assertThat(workload(REVIEWS).getServicesMap().get(legacy).getPortsList())
                .extracting(p -> p.getServicePort() + "->" + p.getTargetPort()).containsExactly("9081->9080");
        assertThat(workload(REVIEWS).getServicesMap()).as("and the Service that selects it")
                .containsKey("shop/reviews.shop.svc.cluster.local");
        assertThat(registry.snapshot().get(ConfigKey.parse("EndpointSlice/shop/reviews-x7k2p")))
                .as("the EndpointSlice controller's slice of the Service that selects it: not written").isNull();

        // the pod leaves the slice: its record goes, and the pod serves the Service no more
        k8s.client().discovery().v1().endpointSlices().inNamespace("shop").withName("reviews-legacy-1")
                .edit(es -> new EndpointSliceBuilder(es).withEndpoints(List.of()).build());
        await().atMost(Duration.ofSeconds(30)).until(() -> !workload(REVIEWS).getServicesMap().containsKey(legacy));
        assertThat(registry.snapshot().get(ConfigKey.parse("EndpointSlice/shop/reviews-legacy-1"))).isNull();
        assertThat(workload(REVIEWS).getServicesMap()).containsKey("shop/reviews.shop.svc.cluster.local");
    }

    @Test
    void whatVanishedWhilePolicyWasDownIsDeletedAtTheNextList() throws Exception {
        start();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) != null);
        source.close();
        source = null;

        k8s.client().pods().inNamespace("shop").withName("reviews-v1-7d4c9-x2x7q").delete();
        k8s.client().genericKubernetesResources(AUTHZ).inNamespace("shop").withName("allow-productpage").delete();
        metrics = new PrometheusRegistry();
        start();
        await().atMost(Duration.ofSeconds(30)).until(() -> workload(REVIEWS) == null
                && !registry.state().authorizations().containsKey("shop/allow-productpage"));
        assertThat(registry.state().addresses()).containsKey("shop/reviews.shop.svc.cluster.local");
    }

    @Test
    void anUnreachableApiServerIsRetriedAndNeverReportedSynced() throws Exception {
        int port;
        try (java.net.ServerSocket closed = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = closed.getLocalPort();
        }
        KubernetesApi api = KubernetesApi.create(new KubernetesConnection("http://127.0.0.1:" + port, "", "",
                Duration.ofSeconds(2)));
        source = new KubernetesSource(api, "Kubernetes", List.of("Pod"), null, metrics);
        source.start(applier(writer, registry));
        await().atMost(Duration.ofSeconds(30)).until(() -> counter("policy_kubernetes_lists",
                Map.of("kind", "Pod", "outcome", "failed")) >= 2);
        assertThat(source.synced()).as("readiness waits for the cluster").isNotDone();
    }

    Workload workload(String uid) {
        Resource r = registry.state().addresses().get(uid);
        if (r == null) {
            return null;
        }
        try {
            return r.body().unpack(Address.class).getWorkload();
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    double counter(String name, Map<String, String> labels) {
        return counter(metrics, name, labels);
    }

    /** Where a test's source writes: validation as in policy, the config log through {@code writer}. */
    static ConfigApplier applier(ConfigLogWriter writer, PolicyRegistry registry) {
        return new ConfigApplier(new ManifestReader("istio-system"), writer, registry::snapshot,
                new PrometheusRegistry(), Clock.systemUTC());
    }

    static double counter(PrometheusRegistry metrics, String name, Map<String, String> labels) {
        for (MetricSnapshot m : metrics.scrape()) {
            if (m.getMetadata().getName().equals(name) && m instanceof CounterSnapshot c) {
                return c.getDataPoints().stream().filter(d -> labels.entrySet().stream()
                        .allMatch(e -> e.getValue().equals(d.getLabels().get(e.getKey()))))
                        .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
            }
        }
        return 0;
    }

    /** A Deployment's pod as the API server holds it once it runs: owner, hash label, addresses, conditions. */
    static Pod reviewsPod() {
        return new PodBuilder().withNewMetadata().withName("reviews-v1-7d4c9-x2x7q").withNamespace("shop")
                .withGenerateName("reviews-v1-7d4c9-").addToLabels("app", "reviews").addToLabels("version", "v1")
                .addToLabels("pod-template-hash", "7d4c9").addNewOwnerReference().withApiVersion("apps/v1")
                .withKind("ReplicaSet").withName("reviews-v1-7d4c9").withUid("rs-uid").withController(true)
                .endOwnerReference().endMetadata()
                .withNewSpec().withNodeName("node-a").withServiceAccountName("reviews").addNewContainer()
                .withName("reviews").withImage("reviews:1").addNewPort().withName("http").withContainerPort(9080)
                .withProtocol("TCP").endPort().endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP("10.244.1.5").addNewPodIP().withIp("10.244.1.5")
                .endPodIP().addNewPodIP().withIp("fd00::5").endPodIP().addNewCondition().withType("Ready")
                .withStatus("True").endCondition().endStatus().build();
    }

    static Pod pendingPod() {
        return new PodBuilder().withNewMetadata().withName("ratings-v1-5b8f6-pzq4m").withNamespace("shop")
                .addToLabels("app", "ratings").endMetadata().withNewSpec().withNodeName("node-b")
                .withServiceAccountName("ratings").addNewContainer()
                .withName("ratings").withImage("ratings:1").endContainer().endSpec().withNewStatus()
                .withPhase("Pending").endStatus().build();
    }

    static GenericKubernetesResource authorizationPolicy(String principal) {
        return new GenericKubernetesResourceBuilder().withApiVersion("security.istio.io/v1")
                .withKind("AuthorizationPolicy").withNewMetadata().withName("allow-productpage").withNamespace("shop")
                .endMetadata().addToAdditionalProperties("spec", Map.of("selector", Map.of("matchLabels",
                        Map.of("app", "reviews")), "rules", List.of(Map.of("from", List.of(Map.of("source",
                        Map.of("principals", List.of(principal))))))))
                .build();
    }
}
