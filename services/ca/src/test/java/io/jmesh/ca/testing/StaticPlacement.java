package io.jmesh.ca.testing;

import io.jmesh.ca.placement.Placement;
import io.jmesh.ca.placement.PlacementSource;
import io.jmesh.core.identity.SpiffeId;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A placement declared by a test: which identities run on which node. Test-only: production placement comes from
 * the config log ({@link io.jmesh.ca.placement.ConfigLogPlacement}); this implements the same interface so tests
 * of other modules need no Kafka when placement is not what they test.
 *
 * <p>Thread-safe: changes swap an immutable {@link Placement}.
 */
public final class StaticPlacement implements PlacementSource {

    private volatile Placement current = Placement.EMPTY;

    /** Puts a workload with {@code identity} on {@code node}. */
    public synchronized StaticPlacement place(String node, SpiffeId identity) {
        Map<String, Set<SpiffeId>> next = copy();
        next.computeIfAbsent(node, n -> new HashSet<>()).add(identity);
        current = new Placement(next);
        return this;
    }

    /** Removes the workload with {@code identity} from {@code node}. */
    public synchronized StaticPlacement remove(String node, SpiffeId identity) {
        Map<String, Set<SpiffeId>> next = copy();
        Set<SpiffeId> ids = next.get(node);
        if (ids != null) {
            ids.remove(identity);
        }
        current = new Placement(next);
        return this;
    }

    private Map<String, Set<SpiffeId>> copy() {
        Map<String, Set<SpiffeId>> m = new HashMap<>();
        current.identitiesByNode().forEach((n, ids) -> m.put(n, new HashSet<>(ids)));
        return m;
    }

    @Override
    public Placement current() {
        return current;
    }

    @Override
    public CompletionStage<?> ready() {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public String describe() {
        return "static (test)";
    }
}
