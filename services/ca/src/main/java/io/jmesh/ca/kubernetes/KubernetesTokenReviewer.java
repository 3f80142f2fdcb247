package io.jmesh.ca.kubernetes;

import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.auth.TokenReviewer;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesException;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Kubernetes mode's {@link TokenReviewer}: a projected ServiceAccount token is checked with a TokenReview, as
 * istiod checks ztunnel's. The token's ServiceAccount decides who the caller is:
 * <ul>
 *   <li>{@code <namespace>/<nodeServiceAccount>} (ztunnel): the node its pod runs on. The token must be bound
 *       to a pod ({@code pod-name} and {@code pod-uid}). The node comes from the token itself
 *       ({@code authentication.kubernetes.io/node-name}, Kubernetes 1.30+) or else from that pod, read from the
 *       API and required to be that very pod, not a successor with the same name.</li>
 *   <li>{@code <namespace>/<s>} for each {@code s} in {@code serviceAccounts}: the control-plane service
 *       {@code s} (policy reviewing ztunnel tokens, an operator's {@code admin}).</li>
 *   <li>anything else is refused, naming the ServiceAccount.</li>
 * </ul>
 * Successful reviews are remembered for {@code reviewCacheTtl} (never past the token's own expiry): a ztunnel
 * sends up to 8 CSRs at once with the same token, and each would otherwise cost an API call. A failed API call is
 * {@linkplain Review#unavailable unavailable} (the caller retries), not a refusal.
 *
 * <p>Blocking (HTTP to the API server): called on signing threads and workers. Thread-safe, lock-free.
 */
public final class KubernetesTokenReviewer implements TokenReviewer {

    static final String REVIEW_PATH = "apis/authentication.k8s.io/v1/tokenreviews";
    static final String EXTRA_NODE = "authentication.kubernetes.io/node-name";
    static final String EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name";
    static final String EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid";
    static final String EXTRA_CREDENTIAL = "authentication.kubernetes.io/credential-id";
    private static final String SA_PREFIX = "system:serviceaccount:";

    private record Cached(Review review, Instant until) {}

    private final KubernetesApi api;
    private final String trustDomain;
    private final String namespace;
    private final String nodeServiceAccount;
    private final Set<String> serviceAccounts;
    private final List<String> audiences;
    private final Duration cacheTtl;
    private final int cacheSize;
    private final Clock clock;
    private final Counter reviews;
    private final ConcurrentHashMap<String, Cached> cache = new ConcurrentHashMap<>();

    public KubernetesTokenReviewer(KubernetesApi api, KubernetesSettings settings, String namespace,
            String trustDomain, PrometheusRegistry registry, Clock clock) {
        this.api = api;
        this.trustDomain = trustDomain;
        this.namespace = namespace;
        this.nodeServiceAccount = settings.nodeServiceAccount();
        this.serviceAccounts = Set.copyOf(settings.serviceAccounts());
        this.audiences = settings.audiences();
        this.cacheTtl = settings.reviewCacheTtl();
        this.cacheSize = settings.reviewCacheSize();
        this.clock = clock;
        this.reviews = Counter.builder().name("ca_token_reviews_total")
                .help("Kubernetes TokenReviews of caller tokens, by result (cached: answered from the cache)")
                .labelNames("result").register(registry);
        for (String r : List.of("authenticated", "refused", "unavailable", "cached")) {
            reviews.labelValues(r);
        }
    }

    @Override
    public boolean remote() {
        return true;
    }

    @Override
    public Review review(String token) {
        if (token == null || token.isEmpty()) {
            reviews.labelValues("refused").inc();
            return Review.refused("no bearer token");
        }
        String key = sha256(token);
        Instant now = clock.instant();
        Cached c = cache.get(key);
        if (c != null) {
            if (now.isBefore(c.until())) {
                reviews.labelValues("cached").inc();
                return c.review();
            }
            cache.remove(key, c);
        }
        Review r = reviewByApi(token, now);
        reviews.labelValues(r.authenticated() ? "authenticated" : r.unavailable() ? "unavailable" : "refused").inc();
        if (r.authenticated() && !cacheTtl.isZero() && cacheSize > 0) {
            Instant until = now.plus(cacheTtl);
            Instant expires = r.caller().expiresAt();
            if (expires != null && expires.isBefore(until)) {
                until = expires;
            }
            remember(key, new Cached(r, until), now);
        }
        return r;
    }

    private void remember(String key, Cached entry, Instant now) {
        if (cache.size() >= cacheSize) {
            cache.values().removeIf(e -> !now.isBefore(e.until()));
            if (cache.size() >= cacheSize) {
                // still full of live entries: forget them all rather than grow; they are re-reviewed on demand
                cache.clear();
            }
        }
        cache.put(key, entry);
    }

    private Review reviewByApi(String token, Instant now) {
        JsonObject spec = new JsonObject().put("token", token);
        if (!audiences.isEmpty()) {
            spec.put("audiences", new JsonArray(List.copyOf(audiences)));
        }
        JsonObject request = new JsonObject().put("apiVersion", "authentication.k8s.io/v1")
                .put("kind", "TokenReview").put("spec", spec);
        KubernetesApi.Response response;
        try {
            response = api.post(REVIEW_PATH, request);
        } catch (KubernetesException e) {
            return Review.unavailable("TokenReview failed: " + e.getMessage());
        }
        if (!response.ok()) {
            String hint = response.status() == 401 || response.status() == 403
                    ? " (expected: the ca ServiceAccount may create tokenreviews, e.g. bound to system:auth-delegator)"
                    : "";
            return Review.unavailable("TokenReview failed: " + response.reason() + hint);
        }
        JsonObject status = response.body().getJsonObject("status", new JsonObject());
        if (!status.getBoolean("authenticated", false)) {
            String error = status.getString("error", "");
            return Review.refused("the Kubernetes API did not authenticate the token"
                    + (error.isBlank() ? "" : ": " + error)
                    + (audiences.isEmpty() ? "" : " (expected: a projected ServiceAccount token for audience "
                            + String.join(" or ", audiences) + ")"));
        }
        Object granted = status.getValue("audiences");
        if (!audiences.isEmpty() && !(granted instanceof JsonArray a && a.stream().anyMatch(audiences::contains))) {
            // the TokenReview API: no status.audiences means the token was checked for the API server's own
            // audience only, by a TokenReview server that ignores spec.audiences (not audience-aware)
            return Review.refused("the TokenReview did not confirm audience " + String.join(" or ", audiences)
                    + " (status.audiences: " + (granted == null ? "absent" : granted) + "; expected: a projected"
                    + " ServiceAccount token for that audience, reviewed by an audience-aware API server)");
        }
        JsonObject user = status.getJsonObject("user", new JsonObject());
        String username = user.getString("username", "");
        if (!username.startsWith(SA_PREFIX)) {
            return Review.refused("user '" + username + "' is not a ServiceAccount (expected: a ServiceAccount token)");
        }
        String[] nsAndName = username.substring(SA_PREFIX.length()).split(":", 2);
        if (nsAndName.length != 2) {
            return Review.refused("user '" + username + "' is not a ServiceAccount (expected: "
                    + SA_PREFIX + "<namespace>:<name>)");
        }
        String saNamespace = nsAndName[0];
        String sa = nsAndName[1];
        JsonObject extra = user.getJsonObject("extra", new JsonObject());
        Instant expiresAt = JwtExpiry.of(token);
        if (expiresAt != null && !now.isBefore(expiresAt)) {
            return Review.refused("token expired at " + expiresAt);
        }
        if (!namespace.equals(saNamespace)) {
            return Review.refused("ServiceAccount " + saNamespace + "/" + sa + " may not use the CA (expected: "
                    + namespace + "/" + nodeServiceAccount + " or a control-plane ServiceAccount of " + namespace + ")");
        }
        String tokenId = first(extra, EXTRA_CREDENTIAL);
        if (sa.equals(nodeServiceAccount)) {
            return nodeCaller(extra, sa, tokenId, expiresAt);
        }
        if (serviceAccounts.contains(sa)) {
            return Review.ok(new Caller(null, sa, Caller.serviceIdentity(trustDomain, sa),
                    tokenId != null ? tokenId : "k8s:" + namespace + "/" + sa, expiresAt));
        }
        return Review.refused("ServiceAccount " + namespace + "/" + sa + " may not use the CA (expected: "
                + namespace + "/" + nodeServiceAccount + " or one of kubernetes.serviceAccounts " + serviceAccounts + ")");
    }

    private Review nodeCaller(JsonObject extra, String sa, String tokenId, Instant expiresAt) {
        String pod = first(extra, EXTRA_POD_NAME);
        String podUid = first(extra, EXTRA_POD_UID);
        // as istiod, a node is the node of a ztunnel pod: a token bound to the Node object (or to nothing) carries
        // a node name too, but whoever may create tokens for this ServiceAccount can mint one for any node
        if (pod == null || podUid == null) {
            return Review.refused("the token of " + namespace + "/" + sa + " is not bound to a pod (expected:"
                    + " a projected ServiceAccount token of the node's ztunnel pod)");
        }
        String node = first(extra, EXTRA_NODE);
        if (node == null) {
            KubernetesApi.Response response;
            try {
                response = api.get("api/v1/namespaces/" + namespace + "/pods/" + pod);
            } catch (KubernetesException e) {
                return Review.unavailable("reading pod " + namespace + "/" + pod + " failed: " + e.getMessage());
            }
            if (response.status() == 404) {
                return Review.refused("pod " + namespace + "/" + pod + " the token is bound to no longer exists");
            }
            if (!response.ok()) {
                return Review.unavailable("reading pod " + namespace + "/" + pod + " failed: " + response.reason()
                        + (response.status() == 403 ? " (expected: the ca ServiceAccount may get pods)" : ""));
            }
            JsonObject p = response.body();
            String uid = p.getJsonObject("metadata", new JsonObject()).getString("uid", "");
            if (!podUid.equals(uid)) {
                return Review.refused("pod " + namespace + "/" + pod + " was replaced (token bound to uid " + podUid
                        + ", the pod now has " + uid + ")");
            }
            node = p.getJsonObject("spec", new JsonObject()).getString("nodeName", "");
            if (node.isEmpty()) {
                return Review.refused("pod " + namespace + "/" + pod + " is not scheduled on a node yet");
            }
        }
        String id = tokenId != null ? tokenId : "k8s:" + namespace + "/" + pod;
        return Review.ok(new Caller(node, null, Caller.nodeIdentity(trustDomain), id, expiresAt));
    }

    private static String first(JsonObject extra, String key) {
        Object v = extra.getValue(key);
        if (v instanceof JsonArray a && !a.isEmpty() && a.getValue(0) instanceof String s && !s.isBlank()) {
            return s;
        }
        return v instanceof String s && !s.isBlank() ? s : null;
    }

    private static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The {@code exp} claim of a JWT, read only after the API server has verified the token. */
    static final class JwtExpiry {
        private JwtExpiry() {}

        static Instant of(String token) {
            String[] parts = token.split("\\.");
            if (parts.length != 3) {
                return null;
            }
            try {
                JsonObject claims = new JsonObject(new String(Base64.getUrlDecoder().decode(parts[1]),
                        StandardCharsets.UTF_8));
                Long exp = claims.getLong("exp");
                return exp == null ? null : Instant.ofEpochSecond(exp);
            } catch (RuntimeException e) {
                return null;
            }
        }
    }
}
