package io.jmesh.policy.state;

import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Scope;
import java.util.Collections;
import java.util.HashMap;
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
 */
public final class MeshState {

    public static final MeshState EMPTY = new MeshState(new TreeMap<>(), new TreeMap<>(), Map.of(), List.of(),
            Map.of());

    /** What the workloads of one node need. */
    record NodeScope(Set<String> namespaces, Set<String> policyKeys) {}

    /** A config-log record that could not be turned into discovery resources. */
    public record Skipped(String key, String reason) {}

    private final NavigableMap<String, Resource> addresses;
    private final NavigableMap<String, Resource> authorizations;
    private final Map<String, NodeScope> nodes;
    private final List<Skipped> skipped;
    private final Map<Integer, Long> offsets;
    private final NavigableMap<String, Resource> globalAuthorizations;
    private final Map<String, NavigableMap<String, Resource>> authorizationsByNamespace;

    MeshState(NavigableMap<String, Resource> addresses, NavigableMap<String, Resource> authorizations,
            Map<String, NodeScope> nodes, List<Skipped> skipped, Map<Integer, Long> offsets) {
        this.addresses = Collections.unmodifiableNavigableMap(addresses);
        this.authorizations = Collections.unmodifiableNavigableMap(authorizations);
        this.nodes = Map.copyOf(nodes);
        this.skipped = List.copyOf(skipped);
        this.offsets = Map.copyOf(offsets);
        NavigableMap<String, Resource> global = new TreeMap<>();
        Map<String, NavigableMap<String, Resource>> byNs = new HashMap<>();
        authorizations.forEach((k, r) -> {
            Authorization a = unpack(r);
            if (a.getScope() == Scope.GLOBAL) {
                global.put(k, r);
            } else if (a.getScope() == Scope.NAMESPACE) {
                byNs.computeIfAbsent(a.getNamespace(), n -> new TreeMap<>()).put(k, r);
            }
        });
        this.globalAuthorizations = global;
        this.authorizationsByNamespace = byNs;
    }

    private static Authorization unpack(Resource r) {
        try {
            return Authorization.parseFrom(r.body().getValue());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException("own resource undecodable: " + r.name(), e);
        }
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
        Map<String, Resource> out = new HashMap<>(globalAuthorizations);
        if (scope != null) {
            for (String ns : scope.namespaces()) {
                out.putAll(authorizationsByNamespace.getOrDefault(ns, Collections.emptyNavigableMap()));
            }
            for (String key : scope.policyKeys()) {
                Resource r = authorizations.get(key);
                if (r != null) {
                    out.put(key, r);
                }
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
