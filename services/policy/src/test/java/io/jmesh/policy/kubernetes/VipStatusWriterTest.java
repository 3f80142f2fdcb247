package io.jmesh.policy.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesConnection;
import io.jmesh.policy.registry.PolicyRegistry;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * VIPs policy allocates to ServiceEntry hosts are kept in the entries' status: end to end through fabric8's mock API
 * server in CRUD mode (the real client creates the entries; the source lists and watches them; the writer records;
 * the watch brings the status back into the log), and against a scripted API server for what a cluster can refuse.
 */
@Timeout(120)
class VipStatusWriterTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static final ResourceDefinitionContext SERVICE_ENTRY = new ResourceDefinitionContext.Builder()
            .withGroup("networking.istio.io").withVersion("v1").withKind("ServiceEntry")
            .withPlural("serviceentries").withNamespaced(true).build();
    static final String SOURCE = "kubernetes:Kubernetes";
    static final String COLLECTION = "/apis/networking.istio.io/v1/serviceentries";

    PrometheusRegistry metrics = new PrometheusRegistry();
    List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    @Test
    void recordsAllocatedVipsInTheEntrysStatusWhereEveryReplicaReadsThemBack() throws Exception {
        KubernetesApiServer k8s = new KubernetesApiServer();
        closing.add(k8s);
        k8s.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop").endMetadata()
                .build()).create();
        var entries = k8s.client().genericKubernetesResources(SERVICE_ENTRY).inNamespace("shop");
        entries.resource(entry("weather", "api.weather.example", Map.of(), null)).create();
        entries.resource(entry("legacy", "legacy.example", Map.of("networking.istio.io/enable-autoallocate-ip",
                "false"), null)).create();
        entries.resource(entry("payments", "api.payments.example", Map.of(), Map.of("addresses",
                List.of(Map.of("value", "240.240.0.1", "host", "api.payments.example"))))).create();

        String topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        ConfigLogWriter log = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer");
        closing.add(log);
        PolicyRegistry registry = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica",
                new MeshSettings("istio-system", "cluster.local", "Kubernetes", "cluster.local"),
                new PrometheusRegistry());
        closing.add(registry);
        registry.ready().get(60, TimeUnit.SECONDS);
        KubernetesApi api = KubernetesApi.create(new KubernetesConnection(k8s.url(), "", "", Duration.ofSeconds(10)));
        KubernetesSource source = new KubernetesSource(api, "Kubernetes", List.of("Namespace", "ServiceEntry"), null,
                metrics);
        closing.add(source);
        VipStatusWriter writer = new VipStatusWriter(api, source, metrics);
        closing.add(writer);
        registry.onState(writer::accept);
        source.start(KubernetesSourceTest.applier(log, registry));

        await().atMost(Duration.ofSeconds(30)).until(() -> !addresses(k8s, "weather").isEmpty());
        List<String> recorded = addresses(k8s, "weather");
        assertThat(recorded).as("the host's IPv4 and IPv6 VIPs, in Istio's ranges").hasSize(2);
        assertThat(recorded.get(0)).startsWith("api.weather.example 240.240.");
        assertThat(recorded.get(1)).startsWith("api.weather.example 2001:2::f0f0:");

        // the watch brings the status back: the entry holds the VIPs, as it would hold istiod's
        await().atMost(Duration.ofSeconds(30)).until(() -> registry.snapshot()
                .get(ConfigKey.parse("ServiceEntry/shop/weather")).getServiceEntry().getAllocatedAddressesCount() == 2);
        await().atMost(Duration.ofSeconds(30)).until(() -> registry.state().allocatedVips().isEmpty());
        List<String> vips = new ArrayList<>();
        for (var a : Address.parseFrom(registry.state().addresses().get("shop/api.weather.example").body()
                .getValue()).getService().getAddressesList()) {
            vips.add("api.weather.example " + InetAddress.getByAddress(a.getAddress().toByteArray()).getHostAddress()
                    .replace("2001:2:0:0:0:0:f0f0:", "2001:2::f0f0:"));
        }
        assertThat(vips).as("the service keeps the VIPs it had before they were recorded")
                .containsExactlyElementsOf(recorded);
        assertThat(addresses(k8s, "legacy")).as("an entry that opts out gets none").isEmpty();
        assertThat(addresses(k8s, "payments")).as("istiod's allocation is left as it is")
                .containsExactly("api.payments.example 240.240.0.1");
        assertThat(KubernetesSourceTest.counter(metrics, "policy_vip_status_writes", Map.of("outcome", "ok")))
                .isEqualTo(1);

        // the entry is renamed to another host: that one gets VIPs, the old host's leave the status (held, they
        // would otherwise be lost to every other host for good)
        entries.withName("weather").edit(e -> {
            @SuppressWarnings("unchecked")
            Map<String, Object> spec = (Map<String, Object>) e.getAdditionalProperties().get("spec");
            spec.put("hosts", List.of("forecast.weather.example"));
            return e;
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            List<String> now = addresses(k8s, "weather");
            return now.size() == 2 && now.stream().allMatch(a -> a.startsWith("forecast.weather.example "));
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> registry.state().allocatedVips().isEmpty());
    }

    @Test
    void keepsWhatTheStatusHoldsWritesConditionallyAndRetriesARefusal() throws Exception {
        Vertx vertx = Vertx.vertx();
        closing.add(() -> vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS));
        AtomicInteger putStatus = new AtomicInteger(403);
        List<JsonObject> puts = new CopyOnWriteArrayList<>();
        // an entry Istio has already given an address for its other host, and one for a host it no longer names; the
        // cluster answers puts as scripted
        JsonObject served = new JsonObject().put("apiVersion", "networking.istio.io/v1").put("kind", "ServiceEntry")
                .put("metadata", new JsonObject().put("name", "weather").put("namespace", "shop")
                        .put("resourceVersion", "41"))
                .put("spec", new JsonObject().put("hosts", new JsonArray().add("api.weather.example")
                        .add("old.weather.example")))
                .put("status", new JsonObject().put("conditions", new JsonArray().add(new JsonObject()
                        .put("type", "Reconciled").put("status", "True"))).put("addresses", new JsonArray()
                        .add(new JsonObject().put("value", "240.240.9.9").put("host", "old.weather.example"))
                        .add(new JsonObject().put("value", "240.240.9.10").put("host", "gone.weather.example"))));
        HttpServer server = vertx.createHttpServer().requestHandler(req -> {
            String path = "/apis/networking.istio.io/v1/namespaces/shop/serviceentries/weather";
            if (req.method().name().equals("GET") && req.path().equals(path)) {
                req.response().putHeader("content-type", "application/json").end(served.encode());
            } else if (req.method().name().equals("PUT") && req.path().equals(path + "/status")) {
                req.body().onSuccess(b -> {
                    puts.add(b.toJsonObject());
                    int status = putStatus.get();
                    req.response().setStatusCode(status).putHeader("content-type", "application/json")
                            .end(status == 200 ? b.toString() : new JsonObject().put("kind", "Status")
                                    .put("message", status == 403 ? "serviceentries.networking.istio.io \"weather\" "
                                            + "is forbidden" : "the object has been modified").encode());
                });
            } else {
                req.response().setStatusCode(404).end();
            }
        }).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        KubernetesApi api = KubernetesApi.create(new KubernetesConnection("http://127.0.0.1:" + server.actualPort(),
                "", "", Duration.ofSeconds(10)));
        AtomicBoolean writing = new AtomicBoolean(false);
        VipStatusWriter writer = new VipStatusWriter(api, SOURCE, () -> COLLECTION, writing::get, metrics,
                Duration.ofMillis(300));
        closing.add(writer);
        MeshState state = state("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: weather, namespace: shop}
                spec:
                  hosts: [api.weather.example]
                  resolution: DNS
                  ports: [{number: 443, name: https, protocol: TLS}]
                """);
        assertThat(state.allocatedVips()).singleElement().satisfies(a -> assertThat(a.byHost())
                .containsOnlyKeys("api.weather.example"));

        writer.accept(state);
        Thread.sleep(300); // nothing to wait for: a replica that does not write must not
        assertThat(puts).as("not the writing replica").isEmpty();

        writing.set(true);
        writer.accept(state);
        // refused (no rights on the status): counted, and tried again on its own after the retry interval
        await().atMost(Duration.ofSeconds(10)).until(() -> puts.size() >= 2);
        assertThat(outcome("refused")).isGreaterThanOrEqualTo(2);

        putStatus.set(409);
        await().atMost(Duration.ofSeconds(10)).until(() -> outcome("conflict") >= 1);
        putStatus.set(200);
        writer.accept(state); // the entry's new version brings a new state
        await().atMost(Duration.ofSeconds(10)).until(() -> outcome("ok") == 1);

        JsonObject last = puts.get(puts.size() - 1);
        assertThat(last.getJsonObject("metadata").getString("resourceVersion")).as("conditional on the version read")
                .isEqualTo("41");
        JsonObject status = last.getJsonObject("status");
        assertThat(status.getJsonArray("conditions")).as("the rest of the status stays").hasSize(1);
        List<String> written = new ArrayList<>();
        status.getJsonArray("addresses").forEach(a -> written.add(((JsonObject) a).getString("host") + " "
                + ((JsonObject) a).getString("value")));
        List<String> vips = state.allocatedVips().get(0).byHost().get("api.weather.example");
        assertThat(written).as("a host the entry still names keeps its address, one it no longer names loses it")
                .containsExactly("old.weather.example 240.240.9.9",
                        "api.weather.example " + vips.get(0), "api.weather.example " + vips.get(1));

        int before = puts.size();
        writer.accept(state);
        writer.accept(state);
        Thread.sleep(300); // nothing to wait for: recorded once, not again while the status comes back
        assertThat(puts).hasSize(before);
    }

    private double outcome(String outcome) {
        return KubernetesSourceTest.counter(metrics, "policy_vip_status_writes", Map.of("outcome", outcome));
    }

    /** What one replica builds from {@code manifests}, written by the cluster's source. */
    private static MeshState state(String... manifests) {
        TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
        for (String m : manifests) {
            for (ParsedObject o : new ManifestReader("istio-system").read(m)) {
                assertThat(o.errors()).as(o.describe()).isEmpty();
                records.put(o.key(), o.record().toBuilder().setSource(SOURCE).build());
            }
        }
        return new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local", "Kubernetes", "cluster.local"))
                .build(new ConfigSnapshot(records, Map.of(0, 1L)), s -> { });
    }

    /** {@code "host value"} of each address in the entry's status, as the cluster holds it. */
    private static List<String> addresses(KubernetesApiServer k8s, String name) {
        GenericKubernetesResource r = k8s.client().genericKubernetesResources(SERVICE_ENTRY).inNamespace("shop")
                .withName(name).get();
        List<String> out = new ArrayList<>();
        Object status = r.getAdditionalProperties().get("status");
        if (status instanceof Map<?, ?> s && s.get("addresses") instanceof List<?> list) {
            for (Object a : list) {
                Map<?, ?> m = (Map<?, ?>) a;
                out.add(m.get("host") + " " + m.get("value"));
            }
        }
        return out;
    }

    private static GenericKubernetesResource entry(String name, String host, Map<String, String> annotations,
            Map<String, Object> status) {
        GenericKubernetesResourceBuilder b = new GenericKubernetesResourceBuilder()
                .withApiVersion("networking.istio.io/v1").withKind("ServiceEntry").withNewMetadata().withName(name)
                .withNamespace("shop").withAnnotations(annotations).endMetadata()
                .addToAdditionalProperties("spec", Map.of("hosts", List.of(host), "resolution", "DNS",
                        "ports", List.of(Map.of("number", 443, "name", "https", "protocol", "TLS"))));
        if (status != null) {
            b.addToAdditionalProperties("status", status);
        }
        return b.build();
    }
}
