package io.jmesh.ca.auth;

/**
 * Decides whom a bearer token stands for, like Kubernetes' TokenReview. Local mode: {@link BootstrapTokens};
 * Kubernetes mode (later): a TokenReview of a projected ServiceAccount token behind this same interface.
 *
 * <p>Implementations are thread-safe and must not block for long: they are called on signing threads and, for
 * {@code jmesh.ca.v1.TokenReview}, off the event loop as well.
 */
public interface TokenReviewer {

    /** The outcome of one review. */
    record Review(Caller caller, String error) {
        public static Review ok(Caller caller) {
            return new Review(caller, null);
        }

        public static Review refused(String error) {
            return new Review(null, error);
        }

        public boolean authenticated() {
            return caller != null;
        }
    }

    /**
     * Reviews {@code token} (without the {@code Bearer } prefix).
     *
     * @return the caller, or a refusal whose error says why ("unknown token", "expired at ...", "revoked at ...")
     */
    Review review(String token);
}
