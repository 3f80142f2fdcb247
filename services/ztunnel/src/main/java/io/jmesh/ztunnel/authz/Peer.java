package io.jmesh.ztunnel.authz;

import io.jmesh.core.identity.SpiffeId;

/**
 * The facts of one connection in the form the matchers compare, extracted once per check.
 *
 * @param principal the peer identity without {@code spiffe://}, null without identity
 * @param namespace the peer's namespace from its SPIFFE id, null without identity
 * @param serviceAccount the peer's service account, null without identity
 */
record Peer(String principal, String namespace, String serviceAccount, byte[] sourceIp, byte[] destinationIp,
        int destinationPort) {

    static Peer of(ConnectionFacts f) {
        SpiffeId id = f.sourceIdentity();
        return new Peer(id == null ? null : id.principal(), id == null ? null : id.namespace(),
                id == null ? null : id.serviceAccount(), f.sourceIp().getAddress(), f.destinationIp().getAddress(),
                f.destinationPort());
    }
}
