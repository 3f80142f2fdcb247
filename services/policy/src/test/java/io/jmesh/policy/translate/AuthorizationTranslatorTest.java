package io.jmesh.policy.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.ServiceAccountMatch;
import java.util.List;
import org.junit.jupiter.api.Test;

class AuthorizationTranslatorTest {

    final ManifestReader reader = new ManifestReader("istio-system");

    AuthorizationTranslator.Translation translate(String spec) {
        List<ParsedObject> read = reader.read("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: shop}
                spec:
                """ + spec.indent(2));
        assertThat(read).hasSize(1);
        assertThat(read.get(0).errors()).as(read.get(0).describe()).isEmpty();
        return AuthorizationTranslator.translate(read.get(0).record(), "istio-system");
    }

    @Test
    void aDenySourceOfOnlyL7FieldsMayBeAnyPeerSoTheRuleDeniesEveryPeer() {
        // DENY requests from principal a, or carrying JWT x: ztunnel sees no JWT, so any peer may carry it
        Authorization a = translate("""
                action: DENY
                rules:
                - from:
                  - source: {principals: [cluster.local/ns/shop/sa/a]}
                  - source: {requestPrincipals: [issuer/x]}
                """).authorization();
        assertThat(a.getAction()).isEqualTo(Action.DENY);
        assertThat(a.getRulesCount()).isEqualTo(1);
        assertThat(a.getRules(0).getClausesList()).as("no clause left restricting the source: every peer is denied")
                .isEmpty();
    }

    @Test
    void aDenyOperationOfOnlyL7FieldsMayBeAnyPortSoTheRuleDeniesEveryPort() {
        Authorization a = translate("""
                action: DENY
                rules:
                - from: [{source: {namespaces: [evil]}}]
                  to:
                  - operation: {ports: ["8080"]}
                  - operation: {methods: [DELETE]}
                """).authorization();
        assertThat(a.getRulesCount()).isEqualTo(1);
        assertThat(a.getRules(0).getClausesList()).as("only the source clause: every port of evil is denied")
                .hasSize(1);
        assertThat(a.getRules(0).getClauses(0).getMatches(0).getNamespaces(0).getExact()).isEqualTo("evil");
    }

    @Test
    void anAllowRuleWithAnL7OnlyAlternativeIsStillDroppedWhole() {
        AuthorizationTranslator.Translation t = translate("""
                rules:
                - from:
                  - source: {principals: [cluster.local/ns/shop/sa/a]}
                  - source: {requestPrincipals: [issuer/x]}
                """);
        assertThat(t.authorization().getAction()).isEqualTo(Action.ALLOW);
        assertThat(t.authorization().getRulesCount()).isZero();
    }

    @Test
    void aDenyEntryMixingL4AndL7FieldsKeepsItsL4Part() {
        Authorization a = translate("""
                action: DENY
                rules:
                - from:
                  - source: {principals: [cluster.local/ns/shop/sa/a], requestPrincipals: [issuer/x]}
                """).authorization();
        assertThat(a.getRules(0).getClausesCount()).isEqualTo(1);
        assertThat(a.getRules(0).getClauses(0).getMatches(0).getPrincipals(0).getExact())
                .isEqualTo("cluster.local/ns/shop/sa/a");
    }

    @Test
    void serviceAccountsBecomeNamespaceAndNameAsIstiodSendsThem() {
        Authorization a = translate("""
                rules:
                - from:
                  - source: {serviceAccounts: [sleep, other/curl], ipBlocks: [10.0.0.0/8]}
                  - source: {notServiceAccounts: [legacy, shop/old]}
                """).authorization();
        assertThat(a.getRulesCount()).isEqualTo(1);
        assertThat(a.getRules(0).getClausesCount()).isEqualTo(1);
        Clause from = a.getRules(0).getClauses(0);
        assertThat(from.getMatchesCount()).isEqualTo(2);
        assertThat(from.getMatches(0).getServiceAccountsList()).as("a bare name is in the policy's namespace")
                .containsExactly(sa("shop", "sleep"), sa("other", "curl"));
        assertThat(from.getMatches(0).getSourceIpsCount()).as("AND-ed with the other fields of its source")
                .isEqualTo(1);
        assertThat(from.getMatches(0).getPrincipalsCount() + from.getMatches(0).getNamespacesCount()).isZero();
        assertThat(from.getMatches(1).getNotServiceAccountsList())
                .containsExactly(sa("shop", "legacy"), sa("shop", "old"));
    }

    @Test
    void aServiceAccountThatBypassedValidationIsRefusedNotEnforcedLiterally() {
        // notServiceAccounts: ['*'] enforced as a literal name would exclude nobody: the ALLOW would open up
        ConfigRecord good = reader.read("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: shop}
                spec: {rules: [{from: [{source: {notServiceAccounts: [legacy]}}]}]}
                """).get(0).record();
        var spec = good.getAuthorizationPolicy().toBuilder();
        spec.getRulesBuilder(0).getFromBuilder(0).getSourceBuilder().setNotServiceAccounts(0, "*");
        ConfigRecord bad = good.toBuilder().setAuthorizationPolicy(spec).build();

        AuthorizationTranslator.Translation t = AuthorizationTranslator.translate(bad, "istio-system");

        assertThat(t.rejected()).containsExactly("spec.rules[0].from[0].source.notServiceAccounts[0]: service account"
                + " '*': wildcards are not allowed (expected: <serviceAccount> or <namespace>/<serviceAccount>)");
        assertThat(t.authorization().getRulesList()).as("the ALLOW rule is dropped: it allows nothing").isEmpty();
    }

    @Test
    void aDenyWhenConditionWithAnInvalidValueIsLeftOutSoTheRuleDeniesMore() {
        ConfigRecord good = reader.read("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: shop}
                spec:
                  action: DENY
                  rules: [{from: [{source: {namespaces: [evil]}}], when: [{key: source.ip, values: [10.0.0.0/8]}]}]
                """).get(0).record();
        var spec = good.getAuthorizationPolicy().toBuilder();
        spec.getRulesBuilder(0).getWhenBuilder(0).setValues(0, "10.0.0.0/x");
        ConfigRecord bad = good.toBuilder().setAuthorizationPolicy(spec).build();

        AuthorizationTranslator.Translation t = AuthorizationTranslator.translate(bad, "istio-system");

        assertThat(t.rejected()).containsExactly("spec.rules[0].when[0].values[0]: prefix length not a number:"
                + " 10.0.0.0/x");
        assertThat(t.authorization().getRulesCount()).isEqualTo(1);
        assertThat(t.authorization().getRules(0).getClausesList()).as("only evil's clause: from any address")
                .hasSize(1);
    }

    private static ServiceAccountMatch sa(String namespace, String name) {
        return ServiceAccountMatch.newBuilder().setNamespace(namespace).setServiceAccount(name).build();
    }
}
