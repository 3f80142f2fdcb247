package io.jmesh.core.identity;

import java.util.Objects;
import java.util.regex.Pattern;

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

    private static final Pattern TRUST_DOMAIN = Pattern.compile("[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?");
    // Kubernetes DNS-1123 label for namespaces, subdomain for service accounts
    private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern SERVICE_ACCOUNT = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    public SpiffeId {
        Objects.requireNonNull(trustDomain, "trustDomain");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
        if (!TRUST_DOMAIN.matcher(trustDomain).matches()) {
            throw new IllegalArgumentException("trust domain: '" + trustDomain
                    + "' (expected: lowercase letters, digits, '.', '-', '_')");
        }
        if (!NAMESPACE.matcher(namespace).matches()) {
            throw new IllegalArgumentException("namespace: '" + namespace + "' (expected: a DNS-1123 label)");
        }
        if (!SERVICE_ACCOUNT.matcher(serviceAccount).matches()) {
            throw new IllegalArgumentException("service account: '" + serviceAccount
                    + "' (expected: a DNS-1123 subdomain)");
        }
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
