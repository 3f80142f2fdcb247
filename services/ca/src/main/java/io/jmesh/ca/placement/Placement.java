package io.jmesh.ca.placement;

import io.jmesh.core.identity.SpiffeId;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Which workload identities are scheduled on which node, at one moment. Immutable; a change builds a new one.
 *
 * @param identitiesByNode node name → identities of the workloads scheduled on it
 */
public record Placement(Map<String, Set<SpiffeId>> identitiesByNode) {

    public static final Placement EMPTY = new Placement(Map.of());

    public Placement {
        Map<String, Set<SpiffeId>> copy = new HashMap<>();
        identitiesByNode.forEach((node, ids) -> copy.put(node, Set.copyOf(ids)));
        identitiesByNode = Map.copyOf(copy);
    }

    /** Whether a workload with {@code identity} is scheduled on {@code node}. */
    public boolean scheduled(String node, SpiffeId identity) {
        return identitiesByNode.getOrDefault(node, Set.of()).contains(identity);
    }

    /** The identities scheduled on {@code node}. */
    public Set<SpiffeId> on(String node) {
        return identitiesByNode.getOrDefault(node, Set.of());
    }

    /** A builder for sources that assemble a placement from workloads. */
    public static final class Builder {
        private final Map<String, Set<SpiffeId>> byNode = new HashMap<>();

        public Builder add(String node, SpiffeId identity) {
            byNode.computeIfAbsent(node, n -> new HashSet<>()).add(identity);
            return this;
        }

        public Placement build() {
            return new Placement(byNode);
        }
    }
}
