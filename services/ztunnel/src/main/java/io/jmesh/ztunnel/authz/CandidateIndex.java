package io.jmesh.ztunnel.authz;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Policies of one action in one scope, indexed so that a check only evaluates those that could match: a policy
 * whose every rule requires one of a set of principal matchers (exact, prefix or suffix) is filed under each of
 * them; failing that, one of a set of exact peer namespaces; failing that, one of a set of destination ports; the
 * rest are always evaluated. A policy filed under several keys may be evaluated more than once; that changes no
 * decision. Immutable.
 */
final class CandidateIndex {

    private static final CompiledPolicy[] NONE = {};

    static final CandidateIndex EMPTY = new CandidateIndex(List.of());

    private final Map<String, CompiledPolicy[]> byPrincipal;
    private final AffixIndex byPrincipalPrefix;
    private final AffixIndex byPrincipalSuffix;
    private final Map<String, CompiledPolicy[]> byNamespace;
    private final Map<Integer, CompiledPolicy[]> byPort;
    private final CompiledPolicy[] others;

    CandidateIndex(List<CompiledPolicy> policies) {
        Map<String, List<CompiledPolicy>> principals = new HashMap<>();
        Map<String, List<CompiledPolicy>> prefixes = new HashMap<>();
        Map<String, List<CompiledPolicy>> suffixes = new HashMap<>();
        Map<String, List<CompiledPolicy>> namespaces = new HashMap<>();
        Map<Integer, List<CompiledPolicy>> ports = new HashMap<>();
        List<CompiledPolicy> rest = new ArrayList<>();
        for (CompiledPolicy p : policies) {
            if (p.neverMatches()) {
                continue;
            }
            Set<StringMatcher> principalMatchers = p.requiredPrincipals();
            if (principalMatchers != null) {
                for (StringMatcher m : principalMatchers) {
                    Map<String, List<CompiledPolicy>> into = switch (m.kind()) {
                        case EXACT -> principals;
                        case PREFIX -> prefixes;
                        case SUFFIX -> suffixes;
                        case PRESENCE -> throw new IllegalStateException("presence is not indexable");
                    };
                    into.computeIfAbsent(m.value(), k -> new ArrayList<>()).add(p);
                }
                continue;
            }
            Set<String> required = p.requiredNamespaces();
            if (required != null) {
                required.forEach(v -> namespaces.computeIfAbsent(v, k -> new ArrayList<>()).add(p));
                continue;
            }
            required = p.requiredPorts();
            if (required != null) {
                required.forEach(v -> ports.computeIfAbsent(Integer.valueOf(v), k -> new ArrayList<>()).add(p));
                continue;
            }
            rest.add(p);
        }
        this.byPrincipal = freeze(principals);
        this.byPrincipalPrefix = prefixes.isEmpty() ? AffixIndex.EMPTY : new AffixIndex(prefixes, false);
        this.byPrincipalSuffix = suffixes.isEmpty() ? AffixIndex.EMPTY : new AffixIndex(suffixes, true);
        this.byNamespace = freeze(namespaces);
        this.byPort = freeze(ports);
        this.others = rest.toArray(NONE);
    }

    /** The first policy that matches, or null. */
    CompiledPolicy firstMatch(Peer p) {
        CompiledPolicy hit;
        if (p.principal() != null) {
            if (!byPrincipal.isEmpty() && (hit = first(byPrincipal.get(p.principal()), p)) != null) {
                return hit;
            }
            if (!byPrincipalPrefix.isEmpty() && (hit = byPrincipalPrefix.firstMatch(p.principal(), p)) != null) {
                return hit;
            }
            if (!byPrincipalSuffix.isEmpty() && (hit = byPrincipalSuffix.firstMatch(p.principal(), p)) != null) {
                return hit;
            }
        }
        if (p.namespace() != null && !byNamespace.isEmpty()
                && (hit = first(byNamespace.get(p.namespace()), p)) != null) {
            return hit;
        }
        if (!byPort.isEmpty() && (hit = first(byPort.get(p.destinationPort()), p)) != null) {
            return hit;
        }
        return first(others, p);
    }

    private static CompiledPolicy first(CompiledPolicy[] policies, Peer p) {
        if (policies == null) {
            return null;
        }
        for (CompiledPolicy policy : policies) {
            if (policy.matches(p)) {
                return policy;
            }
        }
        return null;
    }

    private static <K> Map<K, CompiledPolicy[]> freeze(Map<K, List<CompiledPolicy>> in) {
        Map<K, CompiledPolicy[]> out = new HashMap<>(in.size() * 2);
        in.forEach((k, v) -> out.put(k, v.toArray(NONE)));
        return Map.copyOf(out);
    }
}
