package io.jmesh.policy.state;

import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * Everything discovery serves, computed from one config-log snapshot: every {@code Address} (workloads by uid,
 * services by {@code namespace/hostname}) and every {@code Authorization} (by {@code namespace/name}), with what
 * each node's ztunnel needs. Immutable; replaced whole when the log moves.
 *
 * <p>A node gets every address (its ztunnel resolves any destination) and the authorizations that can apply to
 * its own workloads: global ones, those of its workloads' namespaces, and the selector-based ones its workloads
 * list. Nothing else can change a decision it makes.
 *
 * <p>Each state carries a generation and the names of the addresses that changed in the last
 * {@value #CHANGE_LOG} generations, so a stream that was in sync with an earlier state diffs only those.
 */
public final class MeshState {

    /** How many generations of address changes a state remembers. */
    public static final int CHANGE_LOG = 32;

    public static final MeshState EMPTY = new MeshState(new TreeMap<>(), new TreeMap<>(), new TreeMap<>(), Map.of(),
            Map.of(), List.of(), Map.of(), 0, List.of());

    /** What the workloads of one node need. */
    record NodeScope(Set<String> namespaces, Set<String> policyKeys) {}

    /** A config-log record that could not be turned into discovery resources. */
    public record Skipped(String key, String reason) {}

    /** The address names that changed (updated, added or removed) in one generation. */
    record Change(long generation, Set<String> addresses) {}

    private final NavigableMap<String, Resource> addresses;
    private final NavigableMap<String, Resource> authorizations;
    private final NavigableMap<String, Resource> globalAuthorizations;
    private final Map<String, NavigableMap<String, Resource>> authorizationsByNamespace;
    private final Map<String, NodeScope> nodes;
    private final List<Skipped> skipped;
    private final Map<Integer, Long> offsets;
    private final long generation;
    private final List<Change> changes;

    MeshState(NavigableMap<String, Resource> addresses, NavigableMap<String, Resource> authorizations,
            NavigableMap<String, Resource> globalAuthorizations,
            Map<String, NavigableMap<String, Resource>> authorizationsByNamespace, Map<String, NodeScope> nodes,
            List<Skipped> skipped, Map<Integer, Long> offsets, long generation, List<Change> changes) {
        this.addresses = Collections.unmodifiableNavigableMap(addresses);
        this.authorizations = Collections.unmodifiableNavigableMap(authorizations);
        this.globalAuthorizations = Collections.unmodifiableNavigableMap(globalAuthorizations);
        this.authorizationsByNamespace = Map.copyOf(authorizationsByNamespace);
        this.nodes = Map.copyOf(nodes);
        this.skipped = List.copyOf(skipped);
        this.offsets = Map.copyOf(offsets);
        this.generation = generation;
        this.changes = List.copyOf(changes);
    }

    /** Every address resource, by name. */
    public NavigableMap<String, Resource> addresses() {
        return addresses;
    }

    /** Every authorization resource, by name. */
    public NavigableMap<String, Resource> authorizations() {
        return authorizations;
    }

    /** The resources of {@code typeUrl} that {@code node}'s ztunnel needs, by name. */
    public Map<String, Resource> resourcesFor(String typeUrl, String node) {
        if (TypeUrls.ADDRESS.equals(typeUrl)) {
            return addresses;
        }
        if (!TypeUrls.AUTHORIZATION.equals(typeUrl)) {
            return Map.of();
        }
        NodeScope scope = nodes.get(node);
        if (scope == null) {
            return globalAuthorizations;
        }
        Map<String, Resource> out = new HashMap<>(globalAuthorizations);
        for (String ns : scope.namespaces()) {
            out.putAll(authorizationsByNamespace.getOrDefault(ns, Collections.emptyNavigableMap()));
        }
        for (String key : scope.policyKeys()) {
            Resource r = authorizations.get(key);
            if (r != null) {
                out.put(key, r);
            }
        }
        return out;
    }

    /** This state's position in the sequence of states built by one registry (0 for {@link #EMPTY}). */
    public long generation() {
        return generation;
    }

    /**
     * The names of addresses that changed after generation {@code since} up to this state, or null when that is
     * older than this state remembers (or from another sequence): then diff everything.
     */
    public Set<String> addressesChangedSince(long since) {
        if (since == generation) {
            return Set.of();
        }
        if (since > generation || changes.isEmpty() || changes.get(0).generation() > since + 1) {
            return null;
        }
        Set<String> out = new HashSet<>();
        for (Change c : changes) {
            if (c.generation() > since) {
                out.addAll(c.addresses());
            }
        }
        return out;
    }

    /** Records of the log that were skipped (bad content), with why. */
    public List<Skipped> skipped() {
        return skipped;
    }

    /** The config-log position this state reflects. */
    public Map<Integer, Long> offsets() {
        return offsets;
    }
}
