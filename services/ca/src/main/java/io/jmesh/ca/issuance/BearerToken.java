package io.jmesh.ca.issuance;

/** Reads {@code authorization: Bearer <token>} metadata. */
public final class BearerToken {

    private static final String PREFIX = "bearer ";

    private BearerToken() {}

    /** The token, or null when the header is absent or not a bearer credential. */
    public static String from(String authorization) {
        if (authorization == null || authorization.length() <= PREFIX.length()
                || !authorization.regionMatches(true, 0, PREFIX, 0, PREFIX.length())) {
            return null;
        }
        return authorization.substring(PREFIX.length()).trim();
    }
}
