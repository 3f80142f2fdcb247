package io.jmesh.testing.kubernetes;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.Headers;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.utils.ResponseProvider;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A Kubernetes API server for tests: fabric8's mock server in CRUD mode (Secrets, ConfigMaps and Pods are stored
 * and versioned as by a real API server, read and seeded through the real fabric8 client) plus a TokenReview
 * endpoint that answers for the tokens a test {@linkplain #serviceAccountToken issued}, as the API server
 * answers for projected ServiceAccount tokens. Bound to loopback, plain HTTP.
 */
public final class KubernetesApiServer implements AutoCloseable {

    private final KubernetesMockServer server;
    private final NamespacedKubernetesClient client;
    private final Map<String, JsonObject> users = new ConcurrentHashMap<>();
    private final AtomicInteger reviews = new AtomicInteger();
    private volatile int reviewStatus = 200;
    private volatile boolean audienceUnaware;

    public KubernetesApiServer() {
        // expectations (TokenReview) and CRUD share one dispatcher, which must see the expectations' map
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        server = new KubernetesMockServer(new Context(), new MockWebServer(), expectations,
                new KubernetesMixedDispatcher(expectations), false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        server.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews")
                .andReply(new TokenReviews()).always();
        client = server.createClient();
    }

    /** The URL to give {@code kubernetes.apiServer}. */
    public String url() {
        return server.url("/");
    }

    public NamespacedKubernetesClient client() {
        return client;
    }

    /** TokenReviews answered so far. */
    public int reviews() {
        return reviews.get();
    }

    /** From now on TokenReview answers {@code status} (500: the API server is failing); 200 restores it. */
    public void reviewStatus(int status) {
        reviewStatus = status;
    }

    /**
     * From now on TokenReview answers as a server that is not audience-aware: it ignores {@code spec.audiences}
     * and returns no {@code status.audiences}.
     */
    public void audienceUnaware(boolean unaware) {
        audienceUnaware = unaware;
    }

    /**
     * A token the API server authenticates as {@code system:serviceaccount:<ns>:<sa>} for {@code audience}, bound
     * to {@code pod} (name and uid) and, when {@code node} is not null, carrying the node name as Kubernetes 1.30+
     * does. With {@code podName} null and {@code node} not null, a token bound to the Node object itself
     * (Kubernetes 1.31+): the node's name, no pod. Expires at {@code exp}.
     */
    public String serviceAccountToken(String ns, String sa, String audience, String podName, String podUid,
            String node, Instant exp) {
        String claims = new JsonObject().put("iss", "https://kubernetes.default.svc").put("sub",
                "system:serviceaccount:" + ns + ":" + sa).put("exp", exp.getEpochSecond())
                .put("jti", UUID.randomUUID().toString()).encode();
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String token = b64.encodeToString("{\"alg\":\"RS256\"}".getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(claims.getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(UUID.randomUUID().toString().getBytes(StandardCharsets.UTF_8));
        JsonObject extra = new JsonObject();
        if (podName != null) {
            extra.put("authentication.kubernetes.io/pod-name", new JsonArray().add(podName));
            extra.put("authentication.kubernetes.io/pod-uid", new JsonArray().add(podUid));
        }
        if (node != null) {
            extra.put("authentication.kubernetes.io/node-name", new JsonArray().add(node));
        }
        users.put(token, new JsonObject().put("username", "system:serviceaccount:" + ns + ":" + sa)
                .put("uid", UUID.randomUUID().toString()).put("extra", extra).put("audience", audience));
        return token;
    }

    /**
     * Answers 404 to GETs of {@code pathAndQuery} from now on, as an API server answers for a custom resource whose
     * CRD is not installed (the CRUD store would serve an empty list).
     */
    public void notServed(String pathAndQuery) {
        server.expect().get().withPath(pathAndQuery).andReturn(404, new JsonObject().put("kind", "Status")
                .put("status", "Failure").put("reason", "NotFound").put("code", 404)
                .put("message", "the server could not find the requested resource").encode()).always();
    }

    /** Creates a pod scheduled on {@code node}; returns its uid. */
    public String pod(String ns, String name, String node) {
        return client.pods().inNamespace(ns).resource(new PodBuilder().withNewMetadata().withName(name)
                .withNamespace(ns).withUid(UUID.randomUUID().toString()).endMetadata().withNewSpec()
                .withNodeName(node).addNewContainer().withName("c").withImage("ztunnel").endContainer().endSpec()
                .build()).create().getMetadata().getUid();
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }

    /** TokenReview as the API server does it: authenticated when the token is known and its audience asked for. */
    private final class TokenReviews implements ResponseProvider<Object> {
        private Headers headers = Headers.builder().build();

        @Override
        public int getStatusCode(RecordedRequest request) {
            return reviewStatus;
        }

        @Override
        public Object getBody(RecordedRequest request) {
            reviews.incrementAndGet();
            if (reviewStatus != 200) {
                return new JsonObject().put("kind", "Status").put("message", "etcdserver: request timed out")
                        .encode();
            }
            JsonObject spec = new JsonObject(request.getUtf8Body()).getJsonObject("spec");
            JsonObject user = users.get(spec.getString("token"));
            JsonArray audiences = spec.getJsonArray("audiences", new JsonArray());
            JsonObject status = new JsonObject();
            if (user == null) {
                status.put("authenticated", false).put("error", "invalid bearer token");
            } else if (audienceUnaware) {
                JsonObject u = user.copy();
                u.remove("audience");
                status.put("authenticated", true).put("user", u);
            } else if (!audiences.isEmpty() && !audiences.contains(user.getString("audience"))) {
                status.put("authenticated", false).put("error", "token audiences [" + user.getString("audience")
                        + "] is invalid for the target audiences " + audiences.encode());
            } else {
                JsonObject u = user.copy();
                u.remove("audience");
                status.put("authenticated", true).put("user", u).put("audiences",
                        new JsonArray().add(user.getString("audience")));
            }
            return new JsonObject().put("apiVersion", "authentication.k8s.io/v1").put("kind", "TokenReview")
                    .put("status", status).encode();
        }

        @Override
        public Headers getHeaders() {
            return headers;
        }

        @Override
        public void setHeaders(Headers headers) {
            this.headers = headers;
        }
    }
}
