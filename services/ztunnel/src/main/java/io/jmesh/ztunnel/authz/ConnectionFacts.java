package io.jmesh.ztunnel.authz;

import io.jmesh.core.identity.SpiffeId;
import java.net.InetAddress;
import java.util.List;
import java.util.Objects;

/**
 * What destination-side L4 authorization knows about one inbound connection.
 *
 * @param sourceIdentity the verified peer identity from the client certificate; null for plaintext (15006)
 * @param sourceIp the TCP peer address of the connection (never the {@code forwarded for=} header)
 * @param destinationIp the destination workload's address
 * @param destinationPort the resolved target port of the application (never 15008)
 * @param destinationNamespace the destination workload's namespace (selects namespace-scoped policies)
 * @param destinationPolicyKeys the {@code namespace/name} keys of selector-based policies that apply to the
 *     destination workload ({@code Workload.authorization_policies})
 */
public record ConnectionFacts(SpiffeId sourceIdentity, InetAddress sourceIp, InetAddress destinationIp,
        int destinationPort, String destinationNamespace, List<String> destinationPolicyKeys) {

    public ConnectionFacts {
        Objects.requireNonNull(sourceIp, "sourceIp");
        Objects.requireNonNull(destinationIp, "destinationIp");
        Objects.requireNonNull(destinationNamespace, "destinationNamespace");
        destinationPolicyKeys = List.copyOf(destinationPolicyKeys);
    }

    public boolean hasIdentity() {
        return sourceIdentity != null;
    }
}
