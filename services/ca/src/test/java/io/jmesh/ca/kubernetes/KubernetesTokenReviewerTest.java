package io.jmesh.ca.kubernetes;

import io.jmesh.core.kubernetes.KubernetesApi;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jmesh.ca.auth.TokenReviewer.Review;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.jmesh.testing.MutableClock;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** TokenReview-based node and service authentication against a mock API server in CRUD mode. */
@Timeout(60)
class KubernetesTokenReviewerTest {

    static final String NS = "istio-system";
    static final Instant NOW = Instant.parse("2026-12-02T12:00:00Z");
    static final Instant LATER = NOW.plus(Duration.ofHours(1));

    static KubernetesApiServer k8s;
    final MutableClock now = new MutableClock(NOW);
    KubernetesTokenReviewer reviewer;

    @BeforeAll
    static void apiServer() {
        k8s = new KubernetesApiServer();
    }

    @AfterAll
    static void stop() {
        k8s.close();
    }

    @BeforeEach
    void reviewer() {
        reviewer = reviewer(Duration.ofSeconds(60));
    }

    @AfterEach
    void healthy() {
        k8s.reviewStatus(200);
        k8s.audienceUnaware(false);
    }

    KubernetesTokenReviewer reviewer(Duration cacheTtl) {
        KubernetesSettings s = settings(k8s.url(), cacheTtl);
        return new KubernetesTokenReviewer(KubernetesApi.create(s.connection()), s, NS, "cluster.local", new PrometheusRegistry(),
                now);
    }

    static KubernetesSettings settings(String url, Duration cacheTtl) {
        return new KubernetesSettings(true, url, "", "", NS, "istio-ca-secret", "istio-ca-root-cert",
                List.of("istio-ca"), "ztunnel", List.of("policy", "admin"), cacheTtl, 100, Duration.ofSeconds(5),
                List.of(), Duration.ofMinutes(1));
    }

    @Test
    void nodeFromTheTokensNodeName() {
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-x1", "uid-x1", "node-a", LATER);
        Review r = reviewer.review(token);
        assertTrue(r.authenticated(), r.error());
        assertEquals("node-a", r.caller().node());
        assertNull(r.caller().service());
        assertEquals("spiffe://cluster.local/ns/istio-system/sa/ztunnel", r.caller().identity().uri());
        assertEquals(LATER, r.caller().expiresAt());
    }

    @Test
    void nodeFromTheBoundPodWhenTheTokenCarriesNoNodeName() {
        String uid = k8s.pod(NS, "ztunnel-b1", "node-b");
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-b1", uid, null, LATER);
        Review r = reviewer.review(token);
        assertTrue(r.authenticated(), r.error());
        assertEquals("node-b", r.caller().node());
    }

    @Test
    void aReplacedPodWithTheSameNameIsNotTheTokensPod() {
        k8s.pod(NS, "ztunnel-c1", "node-c");
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-c1", "uid-of-a-deleted-pod",
                null, LATER);
        Review r = reviewer.review(token);
        assertFalse(r.authenticated());
        assertFalse(r.unavailable());
        assertTrue(r.error().contains("was replaced"), r.error());
    }

    @Test
    void aTokenOfAPodThatNoLongerExistsIsRefused() {
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "ztunnel-gone", "uid-gone", null, LATER);
        Review r = reviewer.review(token);
        assertFalse(r.authenticated());
        assertTrue(r.error().contains("no longer exists"), r.error());
    }

    @Test
    void aTokenNotBoundToAPodCannotNameANode() {
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", null, null, null, LATER);
        Review r = reviewer.review(token);
        assertFalse(r.authenticated());
        assertTrue(r.error().contains("not bound to a pod"), r.error());
    }

    @Test
    void aTokenBoundToTheNodeObjectAndNoPodIsNotAZtunnelPod() {
        // as istiod: the node comes from a ztunnel pod; a token bound to a Node (or minted by anyone allowed to
        // create tokens for the ServiceAccount) must not name any node it likes
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", null, null, "node-a", LATER);
        Review r = reviewer.review(token);
        assertFalse(r.authenticated(), "a token bound to no pod authenticated as " + r.caller());
        assertFalse(r.unavailable());
        assertTrue(r.error().contains("not bound to a pod"), r.error());
    }

    @Test
    void anAuthenticatorThatIgnoresTheAudienceIsNotTrusted() {
        // TokenReview API: a client that sets spec.audiences must find one of them in status.audiences; none
        // means the token was only checked for the API server's own audience
        String forTheApiServer = k8s.serviceAccountToken(NS, "ztunnel", "https://kubernetes.default.svc", "z5", "u5",
                "node-a", LATER);
        k8s.audienceUnaware(true);
        Review r = reviewer.review(forTheApiServer);
        assertFalse(r.authenticated(), "a review without status.audiences authenticated as " + r.caller());
        assertFalse(r.unavailable());
        assertTrue(r.error().startsWith("the TokenReview did not confirm audience istio-ca (status.audiences: absent"),
                r.error());
    }

    @Test
    void controlPlaneServiceAccountsAreServices() {
        String token = k8s.serviceAccountToken(NS, "policy", "istio-ca", "policy-1", "uid-p", "node-a", LATER);
        Review r = reviewer.review(token);
        assertTrue(r.authenticated(), r.error());
        assertNull(r.caller().node());
        assertEquals("policy", r.caller().service());
        assertEquals("spiffe://cluster.local/ns/istio-system/sa/policy", r.caller().identity().uri());
    }

    @Test
    void otherServiceAccountsAreRefusedByName() {
        Review app = reviewer.review(k8s.serviceAccountToken(NS, "grafana", "istio-ca", "g", "u", "node-a", LATER));
        assertFalse(app.authenticated());
        assertTrue(app.error().contains("istio-system/grafana may not use the CA"), app.error());
        Review elsewhere = reviewer.review(k8s.serviceAccountToken("default", "ztunnel", "istio-ca", "z", "u",
                "node-a", LATER));
        assertFalse(elsewhere.authenticated());
        assertTrue(elsewhere.error().contains("default/ztunnel may not use the CA"), elsewhere.error());
    }

    @Test
    void wrongAudienceAndUnknownTokensAreRefusedWithTheApiServersReason() {
        Review aud = reviewer.review(k8s.serviceAccountToken(NS, "ztunnel", "kubernetes", "z", "u", "node-a", LATER));
        assertFalse(aud.authenticated());
        assertFalse(aud.unavailable());
        assertTrue(aud.error().contains("audience"), aud.error());
        Review unknown = reviewer.review("not-a-token");
        assertFalse(unknown.authenticated());
        assertTrue(unknown.error().contains("invalid bearer token"), unknown.error());
        Review none = reviewer.review("");
        assertFalse(none.authenticated());
        assertEquals("no bearer token", none.error());
    }

    @Test
    void aFailingApiServerMakesReviewsUnavailableNotRefused() {
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "z9", "u9", "node-a", LATER);
        k8s.reviewStatus(500);
        Review r = reviewer.review(token);
        assertFalse(r.authenticated());
        assertTrue(r.unavailable());
        assertTrue(r.error().contains("500"), r.error());
        k8s.reviewStatus(200);
        assertTrue(reviewer.review(token).authenticated());
    }

    @Test
    void anUnreachableApiServerMakesReviewsUnavailable() {
        KubernetesSettings s = settings("http://127.0.0.1:1/", Duration.ZERO);
        KubernetesTokenReviewer down = new KubernetesTokenReviewer(KubernetesApi.create(s.connection()), s, NS, "cluster.local",
                new PrometheusRegistry(), Clock.systemUTC());
        Review r = down.review("anything");
        assertTrue(r.unavailable());
        assertTrue(r.error().startsWith("TokenReview failed: POST /apis/authentication.k8s.io/v1/tokenreviews"),
                r.error());
    }

    @Test
    void successfulReviewsAreCachedUntilTheTtlOrTheTokensExpiry() {
        Instant soon = NOW.plus(Duration.ofSeconds(20));
        String shortLived = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "z1", "u1", "node-a", soon);
        int before = k8s.reviews();
        for (int i = 0; i < 8; i++) {
            assertTrue(reviewer.review(shortLived).authenticated());
        }
        assertEquals(before + 1, k8s.reviews(), "eight CSRs with one token: one TokenReview");
        now.set(soon);
        Review expired = reviewer.review(shortLived);
        assertFalse(expired.authenticated(), "the cache never outlives the token");
        assertTrue(expired.error().contains("expired"), expired.error());

        String longLived = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "z2", "u2", "node-a",
                NOW.plus(Duration.ofDays(1)));
        reviewer.review(longLived);
        int afterFirst = k8s.reviews();
        now.set(soon.plus(Duration.ofSeconds(59)));
        reviewer.review(longLived);
        assertEquals(afterFirst, k8s.reviews(), "within the TTL");
        now.set(soon.plus(Duration.ofSeconds(61)));
        reviewer.review(longLived);
        assertEquals(afterFirst + 1, k8s.reviews(), "TTL over: reviewed again");
    }

    @Test
    void refusalsAreNotCached() {
        String token = k8s.serviceAccountToken(NS, "ztunnel", "istio-ca", "z3", "u3", "node-a", LATER);
        k8s.reviewStatus(500);
        assertTrue(reviewer.review(token).unavailable());
        k8s.reviewStatus(200);
        assertTrue(reviewer.review(token).authenticated(), "a failure is not remembered");
    }
}
