package io.jmesh.ca.auth;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * Decides whom a bearer token stands for, like Kubernetes' TokenReview. Local mode: {@link BootstrapTokens};
 * Kubernetes mode: {@link io.jmesh.ca.kubernetes.KubernetesTokenReviewer}, a TokenReview of a projected
 * ServiceAccount token.
 *
 * <p>Implementations are thread-safe and must not block for long: they are called on signing threads and, for
 * {@code jmesh.ca.v1.TokenReview}, off the event loop as well.
 */
public interface TokenReviewer {

    /** The outcome of one review. */
    record Review(Caller caller, String error, boolean unavailable) {
        public static Review ok(Caller caller) {
            return new Review(caller, null, false);
        }

        public static Review refused(String error) {
            return new Review(null, error, false);
        }

        /** The credential could not be checked now (the reviewing backend failed): retryable, unlike a refusal. */
        public static Review unavailable(String error) {
            return new Review(null, error, true);
        }

        public boolean authenticated() {
            return caller != null;
        }
    }

    /** True when {@link #review} may make a remote call, so event-loop callers must hand it to a worker. */
    default boolean remote() {
        return false;
    }

    /** {@link #review} for event-loop callers: on a worker when it is {@linkplain #remote() remote}. */
    default Future<Review> reviewAsync(Vertx vertx, String token) {
        return remote() ? vertx.executeBlocking(() -> review(token), false) : Future.succeededFuture(review(token));
    }

    /**
     * Reviews {@code token} (without the {@code Bearer } prefix).
     *
     * @return the caller, or a refusal whose error says why ("unknown token", "expired at ...", "revoked at ...")
     */
    Review review(String token);
}
