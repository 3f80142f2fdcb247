package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.Function;

/**
 * One {@link Authorization} compiled for matching: the policy matches if any rule matches, a rule if all its
 * clauses match, a clause if any of its matches does (a clause without matches matches; a rule without clauses
 * matches everything; a policy without rules never matches). Immutable.
 */
final class CompiledPolicy {

    private final String key;
    private final String namespace;
    private final Scope scope;
    private final boolean deny;
    private final boolean dryRun;
    // rule -> clause -> match
    private final CompiledMatch[][][] rules;

    private CompiledPolicy(Authorization a) {
        this.key = a.getNamespace() + "/" + a.getName();
        this.namespace = a.getNamespace();
        this.scope = a.getScope();
        this.deny = a.getAction() == Action.DENY;
        this.dryRun = a.getDryRun();
        this.rules = new CompiledMatch[a.getRulesCount()][][];
        for (int r = 0; r < rules.length; r++) {
            Rule rule = a.getRules(r);
            rules[r] = new CompiledMatch[rule.getClausesCount()][];
            for (int c = 0; c < rules[r].length; c++) {
                Clause clause = rule.getClauses(c);
                rules[r][c] = new CompiledMatch[clause.getMatchesCount()];
                for (int m = 0; m < rules[r][c].length; m++) {
                    rules[r][c][m] = CompiledMatch.compile(clause.getMatches(m),
                            "rules[" + r + "].clauses[" + c + "].matches[" + m + "]");
                }
            }
        }
    }

    /**
     * Compiles {@code a}.
     *
     * @throws IllegalArgumentException naming the field that cannot be used
     */
    static CompiledPolicy compile(Authorization a) {
        if (a.getName().isEmpty()) {
            throw new IllegalArgumentException("name: empty (expected: the policy name)");
        }
        if (a.getNamespace().isEmpty()) {
            throw new IllegalArgumentException("namespace: empty (expected: the policy namespace)");
        }
        if (a.getScopeValue() > Scope.WORKLOAD_SELECTOR_VALUE || a.getScopeValue() < 0) {
            throw new IllegalArgumentException("scope: " + a.getScopeValue() + " (expected: GLOBAL, NAMESPACE or"
                    + " WORKLOAD_SELECTOR)");
        }
        if (a.getActionValue() > Action.DENY_VALUE || a.getActionValue() < 0) {
            throw new IllegalArgumentException("action: " + a.getActionValue() + " (expected: ALLOW or DENY)");
        }
        return new CompiledPolicy(a);
    }

    String key() {
        return key;
    }

    String namespace() {
        return namespace;
    }

    Scope scope() {
        return scope;
    }

    boolean deny() {
        return deny;
    }

    boolean dryRun() {
        return dryRun;
    }

    boolean matches(Peer p) {
        for (CompiledMatch[][] rule : rules) {
            if (ruleMatches(rule, p)) {
                return true;
            }
        }
        return false;
    }

    private static boolean ruleMatches(CompiledMatch[][] rule, Peer p) {
        for (CompiledMatch[] clause : rule) {
            if (!clauseMatches(clause, p)) {
                return false;
            }
        }
        return true;
    }

    private static boolean clauseMatches(CompiledMatch[] clause, Peer p) {
        if (clause.length == 0) {
            return true;
        }
        for (CompiledMatch m : clause) {
            if (m.matches(p)) {
                return true;
            }
        }
        return false;
    }

    /** Whether the policy can never match (no rules): it then only matters for "is there an ALLOW in scope". */
    boolean neverMatches() {
        return rules.length == 0;
    }

    /**
     * The principal matchers (exact, prefix or suffix) one of which any matching connection must satisfy, or null
     * when the policy can match without one of them (used to index policies by principal).
     */
    Set<StringMatcher> requiredPrincipals() {
        return required(CompiledMatch::requiredPrincipals);
    }

    /** The exact peer namespaces one of which any matching connection must carry, or null. */
    Set<String> requiredNamespaces() {
        return required(CompiledMatch::requiredNamespaces);
    }

    /** Like {@link #requiredNamespaces()} for the destination port (as strings, for one index shape). */
    Set<String> requiredPorts() {
        return required(m -> portStrings(m.requiredPorts()));
    }

    private <T> Set<T> required(Function<CompiledMatch, T[]> constraint) {
        if (rules.length == 0) {
            return null;
        }
        Set<T> all = new LinkedHashSet<>();
        for (CompiledMatch[][] rule : rules) {
            Set<T> forRule = null;
            // a rule is constrained if one of its (AND-ed) clauses has only constrained matches
            for (CompiledMatch[] clause : rule) {
                if (clause.length == 0) {
                    continue;
                }
                Set<T> forClause = new LinkedHashSet<>();
                for (CompiledMatch m : clause) {
                    T[] values = constraint.apply(m);
                    if (values == null) {
                        forClause = null;
                        break;
                    }
                    forClause.addAll(java.util.List.of(values));
                }
                if (forClause != null) {
                    forRule = forClause;
                    break;
                }
            }
            if (forRule == null) {
                return null;
            }
            all.addAll(forRule);
        }
        return all;
    }

    private static String[] portStrings(int[] ports) {
        if (ports == null) {
            return null;
        }
        String[] out = new String[ports.length];
        for (int i = 0; i < ports.length; i++) {
            out[i] = Integer.toString(ports[i]);
        }
        return out;
    }

    @Override
    public String toString() {
        return key;
    }
}
