package io.jmesh.ztunnel.authz;

import static io.jmesh.ztunnel.authz.Policies.conn;
import static io.jmesh.ztunnel.authz.Policies.exact;
import static io.jmesh.ztunnel.authz.Policies.policy;
import static io.jmesh.ztunnel.authz.Policies.presence;
import static io.jmesh.ztunnel.authz.Policies.suffix;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Istio's precedence, scopes, empty rules and clause structure. */
class PrecedenceAndScopeTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final String CURL = "spiffe://cluster.local/ns/other/sa/curl";

    final IndexedAuthorizer authz = new IndexedAuthorizer();

    static Match sa(String suffix) {
        return Match.newBuilder().addPrincipals(suffix("/sa/" + suffix)).build();
    }

    @Test
    void noPoliciesAllows() {
        Decision d = authz.check(conn(SLEEP, 80));
        assertThat(d.allowed()).isTrue();
        assertThat(d.reason()).isEqualTo("allowed by default: no allow policies");
    }

    @Test
    void onlyDenyPoliciesAllowWhatTheyDoNotMatch() {
        authz.replaceAll(List.of(policy("default", "no-curl", Scope.NAMESPACE, Action.DENY, sa("curl"))));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 80))).isEqualTo(Decision.deny("default/no-curl", "denied by deny policy"));
    }

    @Test
    void denyWinsOverAMatchingAllow() {
        authz.replaceAll(List.of(
                policy("default", "allow-all-mtls", Scope.NAMESPACE, Action.ALLOW,
                        Match.newBuilder().addPrincipals(presence()).build()),
                policy("default", "no-sleep", Scope.NAMESPACE, Action.DENY, sa("sleep"))));
        assertThat(authz.check(conn(SLEEP, 80))).isEqualTo(Decision.deny("default/no-sleep", "denied by deny policy"));
        assertThat(authz.check(conn(CURL, 80)))
                .isEqualTo(Decision.allow("default/allow-all-mtls", "allowed by allow policy"));
    }

    @Test
    void anAllowInScopeMakesEverythingElseDenied() {
        authz.replaceAll(List.of(policy("default", "only-sleep", Scope.NAMESPACE, Action.ALLOW, sa("sleep"))));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 80))).isEqualTo(Decision.deny("", "no allow policy matched"));
        assertThat(authz.check(conn(null, 80)).allowed()).as("plaintext has no identity").isFalse();
    }

    @Test
    void allowWithoutRulesDeniesEverything() {
        authz.replaceAll(List.of(policy("default", "allow-nothing", Scope.NAMESPACE, Action.ALLOW, List.of())));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isFalse();
        assertThat(authz.check(conn(null, 80)).allowed()).isFalse();
    }

    @Test
    void denyWithoutRulesDeniesNothing() {
        authz.replaceAll(List.of(policy("default", "deny-nothing", Scope.NAMESPACE, Action.DENY, List.of())));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isTrue();
    }

    @Test
    void anEmptyRuleMatchesEverything() {
        authz.replaceAll(List.of(policy("default", "allow-any", Scope.NAMESPACE, Action.ALLOW,
                List.of(Rule.getDefaultInstance()))));
        assertThat(authz.check(conn(null, 80)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 80)).allowed()).isTrue();
    }

    @Test
    void aClauseWithoutMatchesMatchesAndClausesAreAnded() {
        Rule rule = Rule.newBuilder()
                .addClauses(Clause.getDefaultInstance())
                .addClauses(Clause.newBuilder().addMatches(sa("sleep")).addMatches(sa("curl")))
                .addClauses(Clause.newBuilder().addMatches(Match.newBuilder().addDestinationPorts(80)))
                .build();
        authz.replaceAll(List.of(policy("default", "p", Scope.NAMESPACE, Action.ALLOW, List.of(rule))));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 80)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 81)).allowed()).as("third clause fails").isFalse();
    }

    @Test
    void rulesAreOred() {
        Rule sleep = Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(sa("sleep"))).build();
        Rule port = Rule.newBuilder().addClauses(Clause.newBuilder()
                .addMatches(Match.newBuilder().addDestinationPorts(9090))).build();
        authz.replaceAll(List.of(policy("default", "p", Scope.NAMESPACE, Action.ALLOW, List.of(sleep, port))));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 9090)).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 80)).allowed()).isFalse();
    }

    @Test
    void namespacePoliciesOnlyApplyInTheirNamespace() {
        authz.replaceAll(List.of(policy("other", "deny-all", Scope.NAMESPACE, Action.DENY,
                Match.newBuilder().addNotPrincipals(exact("nobody")).build())));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).as("destination is in default").isTrue();
    }

    @Test
    void globalPoliciesApplyEverywhere() {
        authz.replaceAll(List.of(policy("istio-system", "deny-curl", Scope.GLOBAL, Action.DENY, sa("curl"))));
        assertThat(authz.check(conn(CURL, 80))).isEqualTo(
                Decision.deny("istio-system/deny-curl", "denied by deny policy"));
    }

    @Test
    void workloadSelectorPoliciesApplyOnlyWhenListedByTheDestination() {
        authz.replaceAll(List.of(policy("default", "only-sleep", Scope.WORKLOAD_SELECTOR, Action.ALLOW,
                sa("sleep"))));
        assertThat(authz.check(conn(CURL, 80))).as("not selected").isEqualTo(
                Decision.allow("", "allowed by default: no allow policies"));
        assertThat(authz.check(conn(CURL, 80, "default/only-sleep")).allowed()).isFalse();
        assertThat(authz.check(conn(SLEEP, 80, "default/only-sleep")).policy()).isEqualTo("default/only-sleep");
        assertThat(authz.check(conn(CURL, 80, "default/unknown")).allowed()).as("unknown keys skipped").isTrue();
    }

    @Test
    void workloadDenyAppliesAndAllowsFromOtherScopesCombine() {
        authz.replaceAll(List.of(
                policy("default", "ns-allow-sleep", Scope.NAMESPACE, Action.ALLOW, sa("sleep")),
                policy("default", "wl-allow-curl", Scope.WORKLOAD_SELECTOR, Action.ALLOW, sa("curl")),
                policy("default", "wl-deny-port", Scope.WORKLOAD_SELECTOR, Action.DENY,
                        Match.newBuilder().addDestinationPorts(9999).build())));
        assertThat(authz.check(conn(CURL, 80, "default/wl-allow-curl")).allowed()).isTrue();
        assertThat(authz.check(conn(CURL, 80)).allowed()).isFalse();
        assertThat(authz.check(conn(SLEEP, 9999, "default/wl-deny-port")).policy())
                .isEqualTo("default/wl-deny-port");
    }

    @Test
    void strictPeerAuthenticationAsIstiodConvertsItDeniesPlaintextOnly() {
        // istiod: STRICT mesh-wide -> DENY not_principals: presence, named istio_converted_static_strict
        authz.replaceAll(List.of(policy("istio-system", "istio_converted_static_strict", Scope.GLOBAL, Action.DENY,
                Match.newBuilder().addNotPrincipals(presence()).build())));
        assertThat(authz.check(conn(null, 80))).isEqualTo(
                Decision.deny("istio-system/istio_converted_static_strict", "denied by deny policy"));
        assertThat(authz.check(conn(SLEEP, 80)).allowed()).isTrue();
    }

    @Test
    void strictWithAPermissivePortOverride() {
        // STRICT at workload scope with port 8080 PERMISSIVE: the deny excludes that port
        authz.replaceAll(List.of(policy("default", "converted_peer_authentication_pa", Scope.WORKLOAD_SELECTOR,
                Action.DENY, Match.newBuilder().addNotPrincipals(presence()).addNotDestinationPorts(8080).build())));
        String key = "default/converted_peer_authentication_pa";
        assertThat(authz.check(conn(null, 8080, key)).allowed()).isTrue();
        assertThat(authz.check(conn(null, 80, key)).allowed()).isFalse();
        assertThat(authz.check(conn(SLEEP, 80, key)).allowed()).isTrue();
    }

    @Test
    void dryRunPoliciesNeverDecide() {
        authz.replaceAll(List.of(policy("default", "dry", Scope.NAMESPACE, Action.DENY, sa("sleep")).toBuilder()
                .setDryRun(true).build(),
                policy("default", "dry-allow", Scope.NAMESPACE, Action.ALLOW, sa("nobody")).toBuilder()
                        .setDryRun(true).build()));
        assertThat(authz.check(conn(SLEEP, 80))).isEqualTo(Decision.allow("", "allowed by default: no allow policies"));
    }

    @Test
    void indexedAndUnindexedPoliciesAgree() {
        // exact principals are indexed, prefixes are not: both must be found
        authz.replaceAll(List.of(
                policy("default", "exact", Scope.NAMESPACE, Action.ALLOW,
                        Match.newBuilder().addPrincipals(exact("cluster.local/ns/default/sa/sleep")).build()),
                policy("default", "by-ns", Scope.NAMESPACE, Action.ALLOW,
                        Match.newBuilder().addNamespaces(exact("other")).addDestinationPorts(80).build()),
                policy("default", "prefix", Scope.NAMESPACE, Action.ALLOW,
                        Match.newBuilder().addPrincipals(Policies.prefix("cluster.local/ns/third/")).build())));
        assertThat(authz.check(conn(SLEEP, 80)).policy()).isEqualTo("default/exact");
        assertThat(authz.check(conn(CURL, 80)).policy()).isEqualTo("default/by-ns");
        assertThat(authz.check(conn(CURL, 81)).allowed()).isFalse();
        assertThat(authz.check(conn("spiffe://cluster.local/ns/third/sa/x", 80)).policy())
                .isEqualTo("default/prefix");
    }

    @Test
    void portIndexedDeniesAreFoundOnlyOnTheirPorts() {
        authz.replaceAll(List.of(
                policy("default", "deny-9000-plaintext", Scope.NAMESPACE, Action.DENY,
                        Match.newBuilder().addDestinationPorts(9000).addNotPrincipals(presence()).build()),
                policy("default", "deny-9001-9002", Scope.NAMESPACE, Action.DENY,
                        List.of(Rule.newBuilder().addClauses(Clause.newBuilder()
                                .addMatches(Match.newBuilder().addDestinationPorts(9001))
                                .addMatches(Match.newBuilder().addDestinationPorts(9002))).build()))));
        assertThat(authz.check(conn(null, 9000)).policy()).isEqualTo("default/deny-9000-plaintext");
        assertThat(authz.check(conn(SLEEP, 9000)).allowed()).isTrue();
        assertThat(authz.check(conn(SLEEP, 9002)).policy()).isEqualTo("default/deny-9001-9002");
        assertThat(authz.check(conn(null, 80)).allowed()).isTrue();
    }

    static Authorization named(String name) {
        return policy("default", name, Scope.NAMESPACE, Action.DENY, sa(name));
    }
}
