package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.Scope;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An immutable snapshot of every policy a ztunnel holds, grouped by scope: global (mesh-wide, root namespace),
 * per namespace, and by key for workload-selector policies (looked up through the destination's policy keys).
 */
final class PolicyIndex {

    static final PolicyIndex EMPTY = new PolicyIndex(List.of());

    /** Policies of one scope split by action, with the flag "an enforced ALLOW exists here". */
    static final class Group {
        static final Group EMPTY = new Group(List.of());

        final CandidateIndex deny;
        final CandidateIndex allow;
        final boolean hasAllow;
        final List<CompiledPolicy> dryRun;

        Group(List<CompiledPolicy> policies) {
            List<CompiledPolicy> denies = new ArrayList<>();
            List<CompiledPolicy> allows = new ArrayList<>();
            List<CompiledPolicy> dry = new ArrayList<>();
            for (CompiledPolicy p : policies) {
                if (p.dryRun()) {
                    dry.add(p);
                } else if (p.deny()) {
                    denies.add(p);
                } else {
                    allows.add(p);
                }
            }
            this.deny = denies.isEmpty() ? CandidateIndex.EMPTY : new CandidateIndex(denies);
            this.allow = allows.isEmpty() ? CandidateIndex.EMPTY : new CandidateIndex(allows);
            this.hasAllow = !allows.isEmpty();
            this.dryRun = List.copyOf(dry);
        }
    }

    final Group global;
    final Map<String, Group> byNamespace;
    final Map<String, CompiledPolicy> byKey;

    PolicyIndex(Collection<CompiledPolicy> policies) {
        List<CompiledPolicy> global = new ArrayList<>();
        Map<String, List<CompiledPolicy>> namespaced = new HashMap<>();
        Map<String, CompiledPolicy> keys = new HashMap<>();
        for (CompiledPolicy p : policies) {
            keys.put(p.key(), p);
            if (p.scope() == Scope.GLOBAL) {
                global.add(p);
            } else if (p.scope() == Scope.NAMESPACE) {
                namespaced.computeIfAbsent(p.namespace(), k -> new ArrayList<>()).add(p);
            }
        }
        this.global = global.isEmpty() ? Group.EMPTY : new Group(global);
        Map<String, Group> groups = new HashMap<>();
        namespaced.forEach((ns, list) -> groups.put(ns, new Group(list)));
        this.byNamespace = Map.copyOf(groups);
        this.byKey = Map.copyOf(keys);
    }

    Group namespace(String namespace) {
        return byNamespace.getOrDefault(namespace, Group.EMPTY);
    }

    int size() {
        return byKey.size();
    }
}
