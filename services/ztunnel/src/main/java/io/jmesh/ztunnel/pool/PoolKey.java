package io.jmesh.ztunnel.pool;

import io.jmesh.core.identity.SpiffeId;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Set;

/**
 * What makes two outbound tunnels shareable (Istio's pool key): the same source identity and source address,
 * the same set of acceptable destination identities, the same L4 destination. Record equality is deep, so no
 * hash collision can ever mix keys.
 */
public record PoolKey(SpiffeId source, InetAddress sourceIp, Set<SpiffeId> expected, InetSocketAddress destination) {
    public PoolKey {
        expected = Set.copyOf(expected);
    }
}
