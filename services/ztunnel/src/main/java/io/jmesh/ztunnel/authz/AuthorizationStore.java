package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.Authorization;
import java.util.Collection;

/**
 * Receives authorization policies from discovery ({@code type.googleapis.com/istio.security.Authorization},
 * resource name {@code namespace/name}) and publishes them to an {@link Authorizer} as one new snapshot per
 * update. Listeners run after the swap so open connections can be re-checked.
 *
 * <p>Thread-safe; updates come from the discovery client's thread, reads from event loops.
 */
public interface AuthorizationStore {

    /** Applies one discovery push atomically: upserts by name, then removals. */
    void apply(Collection<Authorization> upserts, Collection<String> removedNames);

    /** Replaces everything (a full state-of-the-world snapshot). */
    void replaceAll(Collection<Authorization> all);

    /** Registers a listener called after each snapshot swap (e.g. to re-check open inbound connections). */
    void onChange(Runnable listener);

    /**
     * Why {@code authorization} cannot be enforced (e.g. {@code "rules[0].clauses[1].matches[0].source_ips[0].address:
     * 5 bytes (expected: 4 for IPv4 or 16 for IPv6)"}), or null when it can. Discovery uses this to NACK a bad
     * resource alone; stores skip such resources.
     */
    static String problem(Authorization authorization) {
        try {
            CompiledPolicy.compile(authorization);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }
}
