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
import io.jmesh.proto.istio.security.ServiceAccountMatch;
import io.jmesh.proto.istio.security.StringMatch;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

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
 *   <li>a value validation refuses (a record that reached the log without it: a port that is no number, an ip block
 *       that is no IP literal or CIDR, a malformed service account, a misplaced {@code *}) makes its field
 *       unenforceable, handled like an L7 field: the ALLOW rule is dropped, the DENY enforced without that field, so
 *       the policy fails closed instead of being skipped (a skipped DENY would deny nothing, a skipped ALLOW could
 *       leave its workloads allowing everything). istiod drops such a value alone, which can widen an ALLOW
 *       ({@code ports: [x]} becomes any port); each such field is returned in {@link Translation#rejected()}.
 * </ul>
 */
public final class AuthorizationTranslator {

    /**
     * The translation of one policy: the resource to send (null when ztunnel gets nothing), warnings, and the
     * fields whose values validation would have refused ({@code path: why}), enforced the strict way.
     */
    public record Translation(Authorization authorization, List<String> warnings, List<String> rejected) {}

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
            return new Translation(null, warnings, List.of());
        }
        if (spec.getTargetRefsCount() > 0) {
            warnings.add("policies with targetRefs are enforced by waypoints, not by ztunnel");
            return new Translation(null, warnings, List.of());
        }
        boolean deny = spec.getAction() == AuthorizationPolicySpec.Action.DENY;
        Scope scope = spec.hasSelector() && spec.getSelector().getMatchLabelsCount() > 0 ? Scope.WORKLOAD_SELECTOR
                : ns.equals(rootNamespace) ? Scope.GLOBAL : Scope.NAMESPACE;
        Authorization.Builder out = Authorization.newBuilder().setName(name).setNamespace(ns).setScope(scope)
                .setAction(deny ? Action.DENY : Action.ALLOW)
                .setDryRun("true".equals(record.getMetadata().getAnnotationsMap().get("istio.io/dry-run")));
        List<String> rejected = new ArrayList<>();
        for (int r = 0; r < spec.getRulesCount(); r++) {
            Rule rule = rule(spec.getRules(r), "spec.rules[" + r + "]", ns, deny, warnings, rejected);
            if (rule != null) {
                out.addRules(rule);
            }
        }
        if (!deny && spec.getRulesCount() > 0 && out.getRulesCount() == 0) {
            warnings.add("no rule of this ALLOW policy can be enforced by ztunnel: it allows nothing there");
        }
        return new Translation(out.build(), warnings, rejected);
    }

    /** Null when an ALLOW rule needs L7 attributes or has an invalid value (dropped whole). */
    private static Rule rule(io.jmesh.proto.config.v1.Rule in, String path, String namespace, boolean deny,
            List<String> warnings, List<String> rejected) {
        List<String> l7 = new ArrayList<>();
        List<String> invalid = new ArrayList<>();
        Rule.Builder rule = Rule.newBuilder();

        // an entry of only L7 fields could match any connection: in a DENY its list then matches anything (the
        // clause is left out), never just its other entries
        Clause.Builder from = Clause.newBuilder();
        boolean anySource = false;
        for (int i = 0; i < in.getFromCount(); i++) {
            Match m = source(in.getFrom(i).getSource(), path + ".from[" + i + "].source", namespace, l7, invalid);
            if (!m.equals(Match.getDefaultInstance())) {
                from.addMatches(m);
            } else {
                anySource = true;
            }
        }
        Clause.Builder to = Clause.newBuilder();
        boolean anyOperation = false;
        for (int i = 0; i < in.getToCount(); i++) {
            Match m = operation(in.getTo(i).getOperation(), path + ".to[" + i + "].operation", l7, invalid);
            if (!m.equals(Match.getDefaultInstance())) {
                to.addMatches(m);
            } else {
                anyOperation = true;
            }
        }
        List<Clause> when = new ArrayList<>();
        for (int i = 0; i < in.getWhenCount(); i++) {
            Match m = condition(in.getWhen(i), path + ".when[" + i + "]", l7, invalid);
            if (m != null) {
                when.add(Clause.newBuilder().addMatches(m).build());
            }
        }
        rejected.addAll(invalid);
        if (!invalid.isEmpty()) {
            List<String> fields = invalid.stream().map(r -> r.substring(0, r.indexOf(':'))).toList();
            if (!deny) {
                warnings.add(path + " dropped: " + String.join(", ", fields) + " invalid, so the rule never matches"
                        + " there");
                return null;
            }
            warnings.add(path + ": " + String.join(", ", fields) + " invalid, so the rule denies without it");
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

    private static Match source(Source s, String path, String namespace, List<String> l7, List<String> invalid) {
        Match.Builder m = Match.newBuilder();
        Function<String, ServiceAccountMatch> account = v -> ServiceAccountRefs.match(v, namespace);
        m.addAllServiceAccounts(valid(s.getServiceAccountsList(), account, path + ".serviceAccounts", invalid));
        m.addAllNotServiceAccounts(valid(s.getNotServiceAccountsList(), account, path + ".notServiceAccounts",
                invalid));
        m.addAllPrincipals(valid(s.getPrincipalsList(), AuthorizationTranslator::string, path + ".principals",
                invalid));
        m.addAllNotPrincipals(valid(s.getNotPrincipalsList(), AuthorizationTranslator::string,
                path + ".notPrincipals", invalid));
        m.addAllNamespaces(valid(s.getNamespacesList(), AuthorizationTranslator::string, path + ".namespaces",
                invalid));
        m.addAllNotNamespaces(valid(s.getNotNamespacesList(), AuthorizationTranslator::string,
                path + ".notNamespaces", invalid));
        m.addAllSourceIps(valid(s.getIpBlocksList(), AuthorizationTranslator::cidr, path + ".ipBlocks", invalid));
        m.addAllNotSourceIps(valid(s.getNotIpBlocksList(), AuthorizationTranslator::cidr, path + ".notIpBlocks",
                invalid));
        note(l7, path, "requestPrincipals", s.getRequestPrincipalsCount());
        note(l7, path, "notRequestPrincipals", s.getNotRequestPrincipalsCount());
        note(l7, path, "remoteIpBlocks", s.getRemoteIpBlocksCount());
        note(l7, path, "notRemoteIpBlocks", s.getNotRemoteIpBlocksCount());
        return m.build();
    }

    private static Match operation(Operation o, String path, List<String> l7, List<String> invalid) {
        Match.Builder m = Match.newBuilder();
        m.addAllDestinationPorts(valid(o.getPortsList(), AuthorizationTranslator::port, path + ".ports", invalid));
        m.addAllNotDestinationPorts(valid(o.getNotPortsList(), AuthorizationTranslator::port, path + ".notPorts",
                invalid));
        note(l7, path, "hosts", o.getHostsCount());
        note(l7, path, "notHosts", o.getNotHostsCount());
        note(l7, path, "methods", o.getMethodsCount());
        note(l7, path, "notMethods", o.getNotMethodsCount());
        note(l7, path, "paths", o.getPathsCount());
        note(l7, path, "notPaths", o.getNotPathsCount());
        return m.build();
    }

    /** Null when the key is L7 (noted), a value is invalid (noted) or the condition is empty. */
    private static Match condition(Condition c, String path, List<String> l7, List<String> invalid) {
        Match.Builder m = Match.newBuilder();
        List<String> values = c.getValuesList();
        List<String> notValues = c.getNotValuesList();
        String at = path + ".values";
        String notAt = path + ".notValues";
        int before = invalid.size();
        switch (c.getKey()) {
            case "source.ip" -> {
                m.addAllSourceIps(valid(values, AuthorizationTranslator::cidr, at, invalid));
                m.addAllNotSourceIps(valid(notValues, AuthorizationTranslator::cidr, notAt, invalid));
            }
            case "source.namespace" -> {
                m.addAllNamespaces(valid(values, AuthorizationTranslator::string, at, invalid));
                m.addAllNotNamespaces(valid(notValues, AuthorizationTranslator::string, notAt, invalid));
            }
            case "source.principal" -> {
                m.addAllPrincipals(valid(values, AuthorizationTranslator::string, at, invalid));
                m.addAllNotPrincipals(valid(notValues, AuthorizationTranslator::string, notAt, invalid));
            }
            case "destination.ip" -> {
                m.addAllDestinationIps(valid(values, AuthorizationTranslator::cidr, at, invalid));
                m.addAllNotDestinationIps(valid(notValues, AuthorizationTranslator::cidr, notAt, invalid));
            }
            case "destination.port" -> {
                m.addAllDestinationPorts(valid(values, AuthorizationTranslator::port, at, invalid));
                m.addAllNotDestinationPorts(valid(notValues, AuthorizationTranslator::port, notAt, invalid));
            }
            default -> {
                l7.add(path + " (" + c.getKey() + ")");
                return null;
            }
        }
        if (invalid.size() > before) {
            return null; // the condition is one test: half of it would match fewer connections than all of it
        }
        Match built = m.build();
        return built.equals(Match.getDefaultInstance()) ? null : built;
    }

    /**
     * {@code values} converted; empty when any of them is invalid (noted as {@code path[i]: why}), so that the
     * whole field is left out: an entry without one of its fields matches more, never less.
     */
    private static <T> List<T> valid(List<String> values, Function<String, T> convert, String path,
            List<String> invalid) {
        List<T> out = new ArrayList<>(values.size());
        for (int i = 0; i < values.size(); i++) {
            try {
                out.add(convert.apply(values.get(i)));
            } catch (IllegalArgumentException e) {
                invalid.add(path + "[" + i + "]: " + e.getMessage());
                return List.of();
            }
        }
        return out;
    }

    /** A port as validation accepts it: 0-65535 in decimal digits. */
    static int port(String v) {
        if (!v.matches("[0-9]{1,5}") || Integer.parseInt(v) > 65535) {
            throw new IllegalArgumentException("'" + v + "' is not a port number (expected: 0-65535)");
        }
        return Integer.parseInt(v);
    }

    private static void note(List<String> l7, String path, String field, int count) {
        if (count > 0) {
            l7.add(path + "." + field);
        }
    }

    /**
     * Istio's value syntax: {@code *} presence, {@code *x} suffix, {@code x*} prefix, else exact. An empty value or
     * one with a {@code *} elsewhere (validation refuses both) is refused rather than matched literally.
     */
    static StringMatch string(String v) {
        if (v.isEmpty()) {
            throw new IllegalArgumentException("must not be empty");
        }
        if (v.length() > 1 && (v.substring(1, v.length() - 1).contains("*")
                || v.startsWith("*") && v.endsWith("*"))) {
            throw new IllegalArgumentException("'" + v + "': '*' is only allowed at the start or the end");
        }
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
     * (its field enforced the strict way), never looked up as a name.
     */
    static Address cidr(String v) {
        int slash = v.indexOf('/');
        String ip = slash < 0 ? v : v.substring(0, slash);
        InetAddress address = IpLiteral.parse(ip);
        if (address == null) {
            throw new IllegalArgumentException("not an IP literal: " + v);
        }
        byte[] bytes = address.getAddress();
        String prefix = slash < 0 ? null : v.substring(slash + 1);
        if (prefix != null && !prefix.matches("[0-9]{1,3}")) {
            throw new IllegalArgumentException("prefix length not a number: " + v);
        }
        int length = prefix == null ? bytes.length * 8 : Integer.parseInt(prefix);
        if (length < 0 || length > bytes.length * 8) {
            throw new IllegalArgumentException("prefix length out of range: " + v + " (expected: 0.."
                    + bytes.length * 8 + ")");
        }
        return Address.newBuilder().setAddress(ByteString.copyFrom(bytes)).setLength(length).build();
    }
}
