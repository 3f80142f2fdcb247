package io.jmesh.policy.auth;

import io.vertx.core.Future;

/**
 * Authenticates a caller's bearer token (gRPC metadata {@code authorization: Bearer <token>}). Fails with
 * {@link Unauthenticated} when the token is missing or refused; other failures mean the review itself failed.
 */
public interface NodeAuthenticator {

    /** @param authorizationHeader the raw {@code authorization} header, possibly null */
    Future<Caller> authenticate(String authorizationHeader);

    /** A refused token, with the reason the reviewer gave. */
    final class Unauthenticated extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public Unauthenticated(String reason) {
            super(reason, null, false, false);
        }
    }

    /** The token without the {@code Bearer } prefix, or null. */
    static String bearer(String header) {
        if (header == null) {
            return null;
        }
        String h = header.trim();
        if (h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            String token = h.substring(7).trim();
            return token.isEmpty() ? null : token;
        }
        return null;
    }
}
