package io.jmesh.policy.translate;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.jmesh.core.net.IpLiteral;
import io.jmesh.proto.config.v1.AuthorizationPolicySpec;
import io.jmesh.proto.config.v1.Condition;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.Operation;
import io.jmesh.proto.config.v1.Source;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Address;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Translates an {@code AuthorizationPolicy} into the L4 {@link Authorization} ztunnel enforces, as istiod does:
 *
 * <ul>
 *   <li>scope: a selector → WORKLOAD_SELECTOR; none, in the root namespace → GLOBAL; none → NAMESPACE;
 *       {@code targetRefs} policies are for waypoints and not sent; AUDIT and CUSTOM are not sent
 *       ("ztunnel does not support the X action");
 *   <li>a rule becomes one clause per populated part: the {@code from} list, the {@code to} list, and each
 *       {@code when} condition; an empty rule matches everything;
 *   <li>values: {@code *} → presence, {@code *x} → suffix, {@code x*} → prefix, else exact; service accounts
 *       {@code ns/name} → that namespace and name, {@code name} → the policy's namespace and that name;
 *   <li>L7-only fields (requestPrincipals, remoteIpBlocks, hosts, methods, paths, other {@code when} keys): in an
 *       ALLOW the rule is dropped whole (it could never be proven to match); in a DENY the L7 part is dropped and
 *       the L4 remainder enforced, so the DENY matches more (fail closed). Each case leaves a warning.
 * </ul>
 */
public final class AuthorizationTranslator {

    /** The translation of one policy: the resource to send (null when ztunnel gets nothing) and warnings. */
    public record Translation(Authorization authorization, List<String> warnings) {}

    private AuthorizationTranslator() {}

    public static Translation translate(ConfigRecord record, String rootNamespace) {
        AuthorizationPolicySpec spec = record.getAuthorizationPolicy();
        String ns = record.getMetadata().getNamespace();
        String name = record.getMetadata().getName();
        List<String> warnings = new ArrayList<>();
        if (spec.getAction() == AuthorizationPolicySpec.Action.AUDIT
                || spec.getAction() == AuthorizationPolicySpec.Action.CUSTOM) {
            warnings.add("ztunnel does not support the " + spec.getAction() + " action; only waypoints enforce"
                    + " this policy");
            return new Translation(null, warnings);
        }
        if (spec.getTargetRefsCount() > 0) {
            warnings.add("policies with targetRefs are enforced by waypoints, not by ztunnel");
            return new Translation(null, warnings);
        }
        boolean deny = spec.getAction() == AuthorizationPolicySpec.Action.DENY;
        Scope scope = spec.hasSelector() && spec.getSelector().getMatchLabelsCount() > 0 ? Scope.WORKLOAD_SELECTOR
                : ns.equals(rootNamespace) ? Scope.GLOBAL : Scope.NAMESPACE;
        Authorization.Builder out = Authorization.newBuilder().setName(name).setNamespace(ns).setScope(scope)
                .setAction(deny ? Action.DENY : Action.ALLOW)
                .setDryRun("true".equals(record.getMetadata().getAnnotationsMap().get("istio.io/dry-run")));
        for (int r = 0; r < spec.getRulesCount(); r++) {
            Rule rule = rule(spec.getRules(r), "spec.rules[" + r + "]", ns, deny, warnings);
            if (rule != null) {
                out.addRules(rule);
            }
        }
        if (!deny && spec.getRulesCount() > 0 && out.getRulesCount() == 0) {
            warnings.add("no rule of this ALLOW policy can be enforced by ztunnel: it allows nothing there");
        }
        return new Translation(out.build(), warnings);
    }

    /** Null when an ALLOW rule needs L7 attributes (dropped whole). */
    private static Rule rule(io.jmesh.proto.config.v1.Rule in, String path, String namespace, boolean deny,
            List<String> warnings) {
        List<String> l7 = new ArrayList<>();
        Rule.Builder rule = Rule.newBuilder();

        // an entry of only L7 fields could match any connection: in a DENY its list then matches anything (the
        // clause is left out), never just its other entries
        Clause.Builder from = Clause.newBuilder();
        boolean anySource = false;
        for (int i = 0; i < in.getFromCount(); i++) {
            Match m = source(in.getFrom(i).getSource(), path + ".from[" + i + "].source", namespace, l7);
            if (!m.equals(Match.getDefaultInstance())) {
                from.addMatches(m);
            } else {
                anySource = true;
            }
        }
        Clause.Builder to = Clause.newBuilder();
        boolean anyOperation = false;
        for (int i = 0; i < in.getToCount(); i++) {
            Match m = operation(in.getTo(i).getOperation(), path + ".to[" + i + "].operation", l7);
            if (!m.equals(Match.getDefaultInstance())) {
                to.addMatches(m);
            } else {
                anyOperation = true;
            }
        }
        List<Clause> when = new ArrayList<>();
        for (int i = 0; i < in.getWhenCount(); i++) {
            Match m = condition(in.getWhen(i), path + ".when[" + i + "]", l7);
            if (m != null) {
                when.add(Clause.newBuilder().addMatches(m).build());
            }
        }
        if (!l7.isEmpty()) {
            if (!deny) {
                warnings.add(path + " dropped: ztunnel cannot enforce " + String.join(", ", l7)
                        + " (L7) in an ALLOW policy, so the rule never matches there");
                return null;
            }
            warnings.add(path + ": ztunnel ignores " + String.join(", ", l7) + " (L7) and denies on the L4 part"
                    + " of the rule only");
        }
        if (from.getMatchesCount() > 0 && !anySource) {
            rule.addClauses(from);
        }
        if (to.getMatchesCount() > 0 && !anyOperation) {
            rule.addClauses(to);
        }
        rule.addAllClauses(when);
        return rule.build();
    }

    private static Match source(Source s, String path, String namespace, List<String> l7) {
        Match.Builder m = Match.newBuilder();
        s.getServiceAccountsList().forEach(v -> m.addServiceAccounts(ServiceAccountRefs.match(v, namespace)));
        s.getNotServiceAccountsList().forEach(v -> m.addNotServiceAccounts(ServiceAccountRefs.match(v, namespace)));
        s.getPrincipalsList().forEach(v -> m.addPrincipals(string(v)));
        s.getNotPrincipalsList().forEach(v -> m.addNotPrincipals(string(v)));
        s.getNamespacesList().forEach(v -> m.addNamespaces(string(v)));
        s.getNotNamespacesList().forEach(v -> m.addNotNamespaces(string(v)));
        s.getIpBlocksList().forEach(v -> m.addSourceIps(cidr(v)));
        s.getNotIpBlocksList().forEach(v -> m.addNotSourceIps(cidr(v)));
        note(l7, path, "requestPrincipals", s.getRequestPrincipalsCount());
        note(l7, path, "notRequestPrincipals", s.getNotRequestPrincipalsCount());
        note(l7, path, "remoteIpBlocks", s.getRemoteIpBlocksCount());
        note(l7, path, "notRemoteIpBlocks", s.getNotRemoteIpBlocksCount());
        return m.build();
    }

    private static Match operation(Operation o, String path, List<String> l7) {
        Match.Builder m = Match.newBuilder();
        o.getPortsList().forEach(v -> m.addDestinationPorts(Integer.parseInt(v)));
        o.getNotPortsList().forEach(v -> m.addNotDestinationPorts(Integer.parseInt(v)));
        note(l7, path, "hosts", o.getHostsCount());
        note(l7, path, "notHosts", o.getNotHostsCount());
        note(l7, path, "methods", o.getMethodsCount());
        note(l7, path, "notMethods", o.getNotMethodsCount());
        note(l7, path, "paths", o.getPathsCount());
        note(l7, path, "notPaths", o.getNotPathsCount());
        return m.build();
    }

    /** Null when the key is L7 (noted) or the condition is empty. */
    private static Match condition(Condition c, String path, List<String> l7) {
        Match.Builder m = Match.newBuilder();
        switch (c.getKey()) {
            case "source.ip" -> {
                c.getValuesList().forEach(v -> m.addSourceIps(cidr(v)));
                c.getNotValuesList().forEach(v -> m.addNotSourceIps(cidr(v)));
            }
            case "source.namespace" -> {
                c.getValuesList().forEach(v -> m.addNamespaces(string(v)));
                c.getNotValuesList().forEach(v -> m.addNotNamespaces(string(v)));
            }
            case "source.principal" -> {
                c.getValuesList().forEach(v -> m.addPrincipals(string(v)));
                c.getNotValuesList().forEach(v -> m.addNotPrincipals(string(v)));
            }
            case "destination.ip" -> {
                c.getValuesList().forEach(v -> m.addDestinationIps(cidr(v)));
                c.getNotValuesList().forEach(v -> m.addNotDestinationIps(cidr(v)));
            }
            case "destination.port" -> {
                c.getValuesList().forEach(v -> m.addDestinationPorts(Integer.parseInt(v)));
                c.getNotValuesList().forEach(v -> m.addNotDestinationPorts(Integer.parseInt(v)));
            }
            default -> {
                l7.add(path + " (" + c.getKey() + ")");
                return null;
            }
        }
        Match built = m.build();
        return built.equals(Match.getDefaultInstance()) ? null : built;
    }

    private static void note(List<String> l7, String path, String field, int count) {
        if (count > 0) {
            l7.add(path + "." + field);
        }
    }

    /** Istio's value syntax: {@code *} presence, {@code *x} suffix, {@code x*} prefix, else exact. */
    static StringMatch string(String v) {
        StringMatch.Builder b = StringMatch.newBuilder();
        if (v.equals("*")) {
            return b.setPresence(Empty.getDefaultInstance()).build();
        }
        if (v.startsWith("*")) {
            return b.setSuffix(v.substring(1)).build();
        }
        if (v.endsWith("*")) {
            return b.setPrefix(v.substring(0, v.length() - 1)).build();
        }
        return b.setExact(v).build();
    }

    /**
     * An IP (full-length prefix) or CIDR, validated at apply time; one that reached the log otherwise is refused
     * (and its policy skipped), never looked up as a name.
     */
    static Address cidr(String v) {
        int slash = v.indexOf('/');
        String ip = slash < 0 ? v : v.substring(0, slash);
        InetAddress address = IpLiteral.parse(ip);
        if (address == null) {
            throw new IllegalArgumentException("not an IP literal: " + v);
        }
        byte[] bytes = address.getAddress();
        int length = slash < 0 ? bytes.length * 8 : Integer.parseInt(v.substring(slash + 1));
        if (length < 0 || length > bytes.length * 8) {
            throw new IllegalArgumentException("prefix length out of range: " + v + " (expected: 0.."
                    + bytes.length * 8 + ")");
        }
        return Address.newBuilder().setAddress(ByteString.copyFrom(bytes)).setLength(length).build();
    }
}
