package io.jmesh.policy.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
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
}
