package io.jmesh.ca.auth;

import io.jmesh.core.identity.SpiffeId;
import java.time.Instant;

/**
 * Who an authenticated bearer token stands for.
 *
 * @param node the node whose ztunnel holds the token, or null for a control-plane service
 * @param service the control-plane service (e.g. {@code policy}, {@code admin}), or null for a node
 * @param identity the caller's own SPIFFE id: {@code spiffe://<td>/ns/istio-system/sa/ztunnel} for every node
 *     (as Istio's ztunnel ServiceAccount), {@code spiffe://<td>/ns/istio-system/sa/<service>} for a service
 * @param tokenId the public id of the token (for logs and revocation; never the secret)
 * @param expiresAt when the token stops being valid, or null if never
 */
public record Caller(String node, String service, SpiffeId identity, String tokenId, Instant expiresAt) {

    /** The namespace of mesh-infrastructure identities, as in Istio. */
    public static final String SYSTEM_NAMESPACE = "istio-system";
    /** The service account of every node's ztunnel, as in Istio's chart. */
    public static final String ZTUNNEL_SERVICE_ACCOUNT = "ztunnel";

    public boolean isNode() {
        return node != null;
    }

    /** For logs and audit events: {@code node:<name>} or {@code service:<name>}. */
    public String describe() {
        return node != null ? "node:" + node : "service:" + service;
    }

    /** The identity of a node's ztunnel in {@code trustDomain}. */
    public static SpiffeId nodeIdentity(String trustDomain) {
        return SpiffeId.of(trustDomain, SYSTEM_NAMESPACE, ZTUNNEL_SERVICE_ACCOUNT);
    }

    /** The identity of a control-plane service in {@code trustDomain}. */
    public static SpiffeId serviceIdentity(String trustDomain, String service) {
        return SpiffeId.of(trustDomain, SYSTEM_NAMESPACE, service);
    }
}
