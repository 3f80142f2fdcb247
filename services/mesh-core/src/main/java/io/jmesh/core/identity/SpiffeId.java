package io.jmesh.core.identity;

import java.util.Objects;

/**
 * A workload identity in Istio's SPIFFE form: {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Parsing is strict: exactly that five-segment path, a lowercase DNS-like trust domain, and
 * namespace / service-account names that are valid Kubernetes names. Anything else is rejected with a
 * message naming the offending part, because an identity that parses loosely is an identity that can be
 * spoofed.
 *
 * <p>Immutable and thread-safe.
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

    public static final String SCHEME_PREFIX = "spiffe://";
    public static final String DEFAULT_TRUST_DOMAIN = "cluster.local";

    public SpiffeId {
        Objects.requireNonNull(trustDomain, "trustDomain");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
        // checked by hand, not with regular expressions: ztunnel builds identities on every connection
        if (!isName(trustDomain, 255, "._-")) {
            throw new IllegalArgumentException("trust domain: '" + trustDomain
                    + "' (expected: lowercase letters, digits, '.', '-', '_')");
        }
        if (!isName(namespace, 63, "-")) { // a Kubernetes DNS-1123 label
            throw new IllegalArgumentException("namespace: '" + namespace + "' (expected: a DNS-1123 label)");
        }
        if (!isName(serviceAccount, 253, "-.")) { // a DNS-1123 subdomain
            throw new IllegalArgumentException("service account: '" + serviceAccount
                    + "' (expected: a DNS-1123 subdomain)");
        }
    }

    /**
     * 1 to {@code max} characters from {@code [a-z0-9]}, plus the {@code inner} ones anywhere but first and last
     * (the regular expression {@code [a-z0-9]([a-z0-9<inner>]{0,max-2}[a-z0-9])?}).
     */
    static boolean isName(String s, int max, String inner) {
        int n = s.length();
        if (n == 0 || n > max) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
                    && (i == 0 || i == n - 1 || inner.indexOf(c) < 0)) {
                return false;
            }
        }
        return true;
    }

    public static SpiffeId of(String trustDomain, String namespace, String serviceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount);
    }

    /**
     * Parses {@code spiffe://td/ns/<ns>/sa/<sa>}.
     *
     * @throws IllegalArgumentException naming what is wrong with {@code uri}
     */
    public static SpiffeId parse(String uri) {
        Objects.requireNonNull(uri, "uri");
        if (!uri.startsWith(SCHEME_PREFIX)) {
            throw new IllegalArgumentException("spiffe id: '" + uri + "' (expected: to start with spiffe://)");
        }
        String rest = uri.substring(SCHEME_PREFIX.length());
        String[] parts = rest.split("/", -1);
        if (parts.length != 5 || !"ns".equals(parts[1]) || !"sa".equals(parts[3])) {
            throw new IllegalArgumentException("spiffe id: '" + uri
                    + "' (expected: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)");
        }
        return new SpiffeId(parts[0], parts[2], parts[4]);
    }

    /** Like {@link #parse} but returns null instead of throwing; for peers whose SANs we only inspect. */
    public static SpiffeId tryParse(String uri) {
        try {
            return parse(uri);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The identity without the {@code spiffe://} prefix, as Istio's authorization policies write principals. */
    public String principal() {
        return trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    public String uri() {
        return SCHEME_PREFIX + principal();
    }

    @Override
    public String toString() {
        return uri();
    }
}
