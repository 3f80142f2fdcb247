package io.jmesh.ca.revocation;

import io.jmesh.core.identity.SpiffeId;

/** Checks an identity an operator asks to revoke, for CaAdmin and the CLI alike. */
public final class RevokedIdentity {

    private RevokedIdentity() {}

    /**
     * Parses {@code text} as an identity of {@code trustDomain}.
     *
     * @param field how the caller named it, for the message ({@code identity}, {@code --identity})
     * @throws IllegalArgumentException naming the malformed part, or another trust domain: this CA issued nothing
     *     there, and an empty success would hide a typo
     */
    public static SpiffeId parse(String field, String text, String trustDomain) {
        SpiffeId id;
        try {
            id = SpiffeId.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": " + e.getMessage(), e);
        }
        if (!id.trustDomain().equals(trustDomain)) {
            throw new IllegalArgumentException(field + ": '" + text + "' (expected: an identity of this CA's trust"
                    + " domain '" + trustDomain + "')");
        }
        return id;
    }
}
