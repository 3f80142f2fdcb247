package io.jmesh.policy.resource;

import io.jmesh.policy.translate.ServiceAccountRefs;
import io.jmesh.proto.config.v1.AuthorizationPolicySpec;
import io.jmesh.proto.config.v1.Condition;
import io.jmesh.proto.config.v1.Operation;
import io.jmesh.proto.config.v1.PolicyTargetReference;
import io.jmesh.proto.config.v1.Rule;
import io.jmesh.proto.config.v1.Source;
import io.jmesh.proto.config.v1.WorkloadSelector;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code AuthorizationPolicy} (security.istio.io/v1) spec, validated as Istio does: selector and targetRefs are
 * exclusive, a provider only with CUSTOM (and CUSTOM needs one), {@code from} needs a non-empty {@code source},
 * {@code to} a non-empty {@code operation}, {@code when} a known key and values; {@code *} only at the start or
 * end of a value; ip blocks are IPs or CIDRs; ports are numbers; service accounts as {@link ServiceAccountRefs}
 * says, never in the same source as principals or namespaces, nor with CUSTOM (Istio's validation).
 */
final class AuthorizationPolicyReader {

    private static final Pattern HEADER_KEY = Pattern.compile("request\\.headers\\[[^\\]]+\\]");
    private static final Pattern CLAIM_KEY = Pattern.compile("request\\.auth\\.claims\\[[^\\]]+\\](\\[[^\\]]+\\])*");
    /** Source fields Istio refuses in a CUSTOM policy (its validation: "currently not supported"). */
    private static final List<String> CUSTOM_UNSUPPORTED_SOURCE_FIELDS = List.of("principals", "notPrincipals",
            "requestPrincipals", "notRequestPrincipals", "namespaces", "notNamespaces", "serviceAccounts",
            "notServiceAccounts");
    /** {@code when} keys Istio refuses in a CUSTOM policy, with every {@code request.auth.*} key. */
    private static final Set<String> CUSTOM_UNSUPPORTED_KEYS = Set.of("source.namespace", "source.serviceAccount",
            "source.principal");

    private static final List<String> PLAIN_KEYS = List.of("source.ip", "remote.ip", "source.namespace",
            "source.principal", "source.serviceAccount", "request.auth.principal", "request.auth.audiences",
            "request.auth.presenter", "destination.ip", "destination.port", "connection.sni");

    private AuthorizationPolicyReader() {}

    static AuthorizationPolicySpec read(Obj spec) {
        Problems p = spec.problems();
        AuthorizationPolicySpec.Builder b = AuthorizationPolicySpec.newBuilder();
        Obj selector = spec.object("selector");
        if (selector != null) {
            Map<String, String> labels = selector.stringMap("matchLabels");
            Names.labels(labels, selector.at("matchLabels"), p);
            selector.finish();
            b.setSelector(WorkloadSelector.newBuilder().putAllMatchLabels(labels));
        }
        if (spec.has("targetRef")) {
            Obj ref = spec.object("targetRef");
            if (ref != null) {
                b.addTargetRefs(targetRef(ref));
            }
        }
        for (Obj.Item item : spec.list("targetRefs")) {
            Obj ref = item.obj(p);
            if (ref != null) {
                b.addTargetRefs(targetRef(ref));
            }
        }
        if (selector != null && b.getTargetRefsCount() > 0) {
            p.error(spec.at("targetRefs"), "only one of selector or targetRefs can be set");
        }

        String action = spec.string("action");
        action = action == null ? "ALLOW" : action;
        switch (action) {
            case "ALLOW" -> b.setAction(AuthorizationPolicySpec.Action.ALLOW);
            case "DENY" -> b.setAction(AuthorizationPolicySpec.Action.DENY);
            case "AUDIT" -> b.setAction(AuthorizationPolicySpec.Action.AUDIT);
            case "CUSTOM" -> b.setAction(AuthorizationPolicySpec.Action.CUSTOM);
            default -> p.error(spec.at("action"), "'" + action + "' (expected: ALLOW, DENY, AUDIT or CUSTOM)");
        }
        Obj provider = spec.object("provider");
        if (provider != null) {
            String name = provider.requiredString("name");
            provider.finish();
            if (name != null) {
                b.setProvider(AuthorizationPolicySpec.ExtensionProvider.newBuilder().setName(name));
            }
            if (!"CUSTOM".equals(action)) {
                p.error(spec.at("provider"), "only allowed with action CUSTOM");
            }
        } else if ("CUSTOM".equals(action)) {
            p.error(spec.at("provider"), "required with action CUSTOM");
        }

        for (Obj.Item item : spec.list("rules")) {
            Obj rule = item.obj(p);
            if (rule != null) {
                b.addRules(rule(rule, action));
            }
        }
        if ("AUDIT".equals(action) || "CUSTOM".equals(action)) {
            if (b.getRulesCount() == 0) {
                p.error(spec.at("rules"), "required with action " + action);
            }
        }
        spec.finish();
        return b.build();
    }

    private static PolicyTargetReference targetRef(Obj ref) {
        PolicyTargetReference.Builder b = PolicyTargetReference.newBuilder();
        String group = ref.string("group");
        String kind = ref.requiredString("kind");
        String name = ref.requiredString("name");
        String ns = ref.string("namespace");
        ref.finish();
        if (group != null) {
            b.setGroup(group);
        }
        if (kind != null) {
            b.setKind(kind);
        }
        if (name != null) {
            b.setName(name);
        }
        if (ns != null) {
            b.setNamespace(ns);
        }
        return b.build();
    }

    private static Rule rule(Obj rule, String action) {
        Problems p = rule.problems();
        Rule.Builder b = Rule.newBuilder();
        for (Obj source : eachRequired(rule, "from", "source")) {
            b.addFrom(Rule.From.newBuilder().setSource(source(source, action)));
        }
        for (Obj op : eachRequired(rule, "to", "operation")) {
            b.addTo(Rule.To.newBuilder().setOperation(operation(op)));
        }
        for (Obj.Item item : rule.list("when")) {
            Obj when = item.obj(p);
            if (when != null) {
                b.addWhen(condition(when, action));
            }
        }
        rule.finish();
        return b.build();
    }

    /** The {@code field} object of each entry of {@code list}; an entry without one is reported as required. */
    private static List<Obj> eachRequired(Obj rule, String list, String field) {
        Problems p = rule.problems();
        List<Obj> out = new ArrayList<>();
        for (Obj.Item item : rule.list(list)) {
            Obj entry = item.obj(p);
            if (entry == null) {
                continue;
            }
            Obj inner = entry.object(field);
            if (inner == null && !entry.has(field)) {
                p.error(entry.at(field), "required");
            }
            entry.finish();
            if (inner != null) {
                out.add(inner);
            }
        }
        return out;
    }

    private static Source source(Obj s, String action) {
        Problems p = s.problems();
        Source.Builder b = Source.newBuilder()
                .addAllPrincipals(values(s, "principals"))
                .addAllRequestPrincipals(values(s, "requestPrincipals"))
                .addAllNamespaces(values(s, "namespaces"))
                .addAllIpBlocks(cidrs(s, "ipBlocks"))
                .addAllNotPrincipals(values(s, "notPrincipals"))
                .addAllNotRequestPrincipals(values(s, "notRequestPrincipals"))
                .addAllNotNamespaces(values(s, "notNamespaces"))
                .addAllNotIpBlocks(cidrs(s, "notIpBlocks"))
                .addAllRemoteIpBlocks(cidrs(s, "remoteIpBlocks"))
                .addAllNotRemoteIpBlocks(cidrs(s, "notRemoteIpBlocks"))
                .addAllServiceAccounts(serviceAccounts(s, "serviceAccounts"))
                .addAllNotServiceAccounts(serviceAccounts(s, "notServiceAccounts"));
        if (b.getServiceAccountsCount() + b.getNotServiceAccountsCount() > 0) {
            String field = b.getServiceAccountsCount() > 0 ? "serviceAccounts" : "notServiceAccounts";
            List<String> identities = new ArrayList<>();
            addIfSet(identities, "principals", b.getPrincipalsCount());
            addIfSet(identities, "notPrincipals", b.getNotPrincipalsCount());
            addIfSet(identities, "namespaces", b.getNamespacesCount());
            addIfSet(identities, "notNamespaces", b.getNotNamespacesCount());
            if (!identities.isEmpty()) {
                p.error(s.at(field), "cannot be set together with principals, notPrincipals, namespaces or"
                        + " notNamespaces in the same source (found: " + String.join(", ", identities) + ")");
            }
        }
        if ("CUSTOM".equals(action)) {
            // Istio's validation: an external authorizer is not given the peer's identity
            for (String field : CUSTOM_UNSUPPORTED_SOURCE_FIELDS) {
                if (s.has(field)) {
                    p.error(s.at(field), "not supported with action CUSTOM");
                }
            }
        }
        s.finish();
        Source built = b.build();
        if (built.equals(Source.getDefaultInstance()) && !p.hasErrors()) {
            p.error(s.path(), "must not be empty (set at least one field)");
        }
        return built;
    }

    private static Operation operation(Obj o) {
        Problems p = o.problems();
        Operation.Builder b = Operation.newBuilder()
                .addAllHosts(values(o, "hosts"))
                .addAllPorts(ports(o, "ports"))
                .addAllMethods(values(o, "methods"))
                .addAllPaths(values(o, "paths"))
                .addAllNotHosts(values(o, "notHosts"))
                .addAllNotPorts(ports(o, "notPorts"))
                .addAllNotMethods(values(o, "notMethods"))
                .addAllNotPaths(values(o, "notPaths"));
        o.finish();
        Operation built = b.build();
        if (built.equals(Operation.getDefaultInstance()) && !p.hasErrors()) {
            p.error(o.path(), "must not be empty (set at least one field)");
        }
        return built;
    }

    private static Condition condition(Obj w, String action) {
        Problems p = w.problems();
        String key = w.requiredString("key");
        List<String> values = w.strings("values");
        List<String> notValues = w.strings("notValues");
        w.finish();
        Condition.Builder b = Condition.newBuilder().addAllValues(values).addAllNotValues(notValues);
        if (key == null) {
            return b.build();
        }
        b.setKey(key);
        if (!PLAIN_KEYS.contains(key) && !HEADER_KEY.matcher(key).matches() && !CLAIM_KEY.matcher(key).matches()
                && !key.startsWith("experimental.envoy.filters.")) {
            p.error(w.at("key"), "unknown attribute '" + key + "'");
        }
        if ("CUSTOM".equals(action) && (CUSTOM_UNSUPPORTED_KEYS.contains(key) || key.startsWith("request.auth."))) {
            p.error(w.at("key"), "'" + key + "' not supported with action CUSTOM");
        }
        if (values.isEmpty() && notValues.isEmpty()) {
            p.error(w.path(), "at least one of values or notValues must be set");
        }
        for (String list : List.of("values", "notValues")) {
            List<String> vs = list.equals("values") ? values : notValues;
            if (key.equals("source.serviceAccount")) {
                serviceAccountCount(vs.size(), w.at(list), p);
            }
            for (int i = 0; i < vs.size(); i++) {
                String at = w.at(list) + "[" + i + "]";
                switch (key) {
                    case "source.ip", "remote.ip", "destination.ip" -> Names.cidr(vs.get(i), at, p);
                    case "source.serviceAccount" -> serviceAccount(vs.get(i), at, p);
                    case "destination.port" -> port(vs.get(i), at, p);
                    default -> wildcard(vs.get(i), at, p);
                }
            }
        }
        return b.build();
    }

    private static List<String> values(Obj o, String key) {
        List<String> vs = o.strings(key);
        for (int i = 0; i < vs.size(); i++) {
            wildcard(vs.get(i), o.at(key) + "[" + i + "]", o.problems());
        }
        return vs;
    }

    private static List<String> serviceAccounts(Obj o, String key) {
        List<String> vs = o.strings(key);
        serviceAccountCount(vs.size(), o.at(key), o.problems());
        for (int i = 0; i < vs.size(); i++) {
            serviceAccount(vs.get(i), o.at(key) + "[" + i + "]", o.problems());
        }
        return vs;
    }

    private static void serviceAccountCount(int count, String path, Problems p) {
        if (count > ServiceAccountRefs.MAX_VALUES) {
            p.error(path, count + " values (expected: at most " + ServiceAccountRefs.MAX_VALUES + ")");
        }
    }

    private static void serviceAccount(String v, String path, Problems p) {
        String problem = ServiceAccountRefs.problem(v);
        if (problem != null) {
            p.error(path, problem);
        }
    }

    private static void addIfSet(List<String> out, String field, int count) {
        if (count > 0) {
            out.add(field);
        }
    }

    private static void wildcard(String v, String path, Problems p) {
        if (v.isEmpty()) {
            p.error(path, "must not be empty");
        } else if (v.length() > 1 && v.substring(1, v.length() - 1).contains("*")) {
            p.error(path, "'" + v + "': '*' is only allowed at the start or the end");
        } else if (v.length() > 1 && v.startsWith("*") && v.endsWith("*")) {
            p.error(path, "'" + v + "': '*' is only allowed at the start or the end, not both");
        }
    }

    private static List<String> cidrs(Obj o, String key) {
        List<String> vs = o.strings(key);
        for (int i = 0; i < vs.size(); i++) {
            Names.cidr(vs.get(i), o.at(key) + "[" + i + "]", o.problems());
        }
        return vs;
    }

    private static List<String> ports(Obj o, String key) {
        List<String> out = new java.util.ArrayList<>();
        for (Obj.Item item : o.list(key)) {
            String v = item.node().isValueNode() ? item.node().asText() : null;
            if (v == null) {
                o.problems().error(item.path(), "expected a port, got " + Obj.kind(item.node()));
            } else if (port(v, item.path(), o.problems())) {
                out.add(v);
            }
        }
        return out;
    }

    private static boolean port(String v, String path, Problems p) {
        if (!v.matches("[0-9]{1,5}") || Integer.parseInt(v) > 65535) {
            p.error(path, "'" + v + "' is not a port number (expected: 0-65535)");
            return false;
        }
        return true;
    }
}
