package io.jmesh.policy.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesConnection;
import io.jmesh.policy.registry.PolicyRegistry;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * How a watch goes on, against a scripted API server (what fabric8's mock cannot do: bookmarks, a server that ends
 * a watch, a {@code 410 Gone}): an ended watch resumes from the last version seen, a bookmark's included, and a
 * version the server no longer keeps starts the kind over with a new list.
 */
@Timeout(60)
class KubernetesWatchResumeTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    Vertx vertx;
    HttpServer server;
    ConfigLogWriter writer;
    PolicyRegistry registry;
    KubernetesSource source;
    final AtomicInteger lists = new AtomicInteger();
    final AtomicInteger refusedHandshakes = new AtomicInteger();
    final PrometheusRegistry metrics = new PrometheusRegistry();
    final List<String> watchedFrom = new CopyOnWriteArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        server = vertx.createHttpServer().requestHandler(req -> {
            if (req.path().equals("/api/v1/namespaces") && !req.query().contains("watch=true")) {
                lists.incrementAndGet();
                req.response().putHeader("content-type", "application/json").end(new JsonObject()
                        .put("kind", "NamespaceList").put("metadata", new JsonObject().put("resourceVersion", "10"))
                        .put("items", new JsonArray().add(namespace("before", "9"))).encode());
            } else {
                req.response().setStatusCode(404).end();
            }
        }).webSocketHandshakeHandler(handshake -> {
            // as the API server's golang.org/x/net/websocket handler: no Origin, no handshake (403)
            if (("http://127.0.0.1:" + server.actualPort()).equals(handshake.headers().get("origin"))) {
                handshake.accept();
            } else {
                refusedHandshakes.incrementAndGet();
                handshake.reject(403);
            }
        }).webSocketHandler(this::watch).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        String topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        writer = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer");
        registry = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica", new MeshSettings("istio-system",
                "cluster.local", "Kubernetes", "cluster.local"), new PrometheusRegistry());
        registry.ready().get(60, TimeUnit.SECONDS);
    }

    /** Watch 1: an object, a bookmark, then the server ends it. Watch 2: 410. Watch 3 (after a list): stays. */
    private void watch(ServerWebSocket ws) {
        String query = ws.query() == null ? "" : ws.query();
        String from = query.replaceAll(".*resourceVersion=([^&]*).*", "$1");
        watchedFrom.add(query.contains("resourceVersion=") ? from : "");
        switch (watchedFrom.size()) {
            case 1 -> {
                ws.writeTextMessage(event("ADDED", namespace("during", "12")));
                ws.writeTextMessage(event("BOOKMARK", new JsonObject().put("kind", "Namespace")
                        .put("metadata", new JsonObject().put("resourceVersion", "15"))));
                vertx.setTimer(200, t -> ws.close((short) 1000, "watch timeout"));
            }
            case 2 -> ws.writeTextMessage(event("ERROR", new JsonObject().put("kind", "Status").put("code", 410)
                    .put("reason", "Expired").put("message", "too old resource version: 15 (40)")));
            // JSON in a binary frame, as an API server that does not frame it as text would send it
            default -> ws.writeBinaryMessage(io.vertx.core.buffer.Buffer.buffer(event("ADDED", namespace("after",
                    "41"))));
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        if (source != null) {
            source.close();
        }
        registry.close();
        writer.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void anEndedWatchResumesFromTheLastVersionAndAGoneVersionListsAgain() throws Exception {
        KubernetesApi api = KubernetesApi.create(new KubernetesConnection("http://127.0.0.1:" + server.actualPort(),
                "", "", Duration.ofSeconds(5)));
        source = new KubernetesSource(api, "Kubernetes", List.of("Namespace"), null, metrics);
        source.start(KubernetesSourceTest.applier(writer, registry));

        await().atMost(Duration.ofSeconds(30)).until(() -> registry.snapshot().get(ConfigKey.parse(
                "Namespace//after")) != null);
        assertThat(watchedFrom).as("the list's version, then the bookmark's, then a new list's")
                .startsWith("10", "15", "10");
        assertThat(lists.get()).isEqualTo(2);
        assertThat(refusedHandshakes.get()).as("every watch names its Origin").isZero();
        assertThat(registry.snapshot().get(ConfigKey.parse("Namespace//before"))).isNotNull();
        // the first watch's object was written, and the new list, which no longer holds it, deleted it
        assertThat(registry.snapshot().get(ConfigKey.parse("Namespace//during"))).isNull();
        assertThat(KubernetesSourceTest.counter(metrics, "policy_kubernetes_events", java.util.Map.of("kind",
                "Namespace", "type", "ADDED"))).isEqualTo(2);
    }

    static String event(String type, JsonObject object) {
        return new JsonObject().put("type", type).put("object", object).encode();
    }

    static JsonObject namespace(String name, String version) {
        return new JsonObject().put("apiVersion", "v1").put("kind", "Namespace").put("metadata", new JsonObject()
                .put("name", name).put("uid", "uid-" + name).put("resourceVersion", version));
    }
}
