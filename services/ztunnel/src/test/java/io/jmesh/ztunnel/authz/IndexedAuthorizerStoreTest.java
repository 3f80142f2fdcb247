package io.jmesh.ztunnel.authz;

import static io.jmesh.ztunnel.authz.Policies.conn;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.jmesh.proto.istio.security.Address;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.StringMatch;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Snapshot swapping, removals, listeners and rejection of resources that cannot be enforced. */
class IndexedAuthorizerStoreTest {

    final PrometheusRegistry metrics = new PrometheusRegistry();
    final IndexedAuthorizer store = new IndexedAuthorizer(metrics);

    @Test
    void applyUpsertsThenRemovesAndNotifiesAfterTheSwap() {
        AtomicInteger seenSize = new AtomicInteger(-1);
        store.onChange(() -> seenSize.set(store.size()));

        store.apply(List.of(PrecedenceAndScopeTest.named("sleep"), PrecedenceAndScopeTest.named("curl")), List.of());
        assertThat(seenSize).hasValue(2);
        assertThat(store.check(conn(PrecedenceAndScopeTest.SLEEP, 80)).allowed()).isFalse();

        store.apply(List.of(), List.of("default/sleep"));
        assertThat(seenSize).hasValue(1);
        assertThat(store.check(conn(PrecedenceAndScopeTest.SLEEP, 80)).allowed()).isTrue();
    }

    @Test
    void replaceAllDropsWhatIsNotListed() {
        store.apply(List.of(PrecedenceAndScopeTest.named("sleep")), List.of());
        store.replaceAll(List.of(PrecedenceAndScopeTest.named("curl")));
        assertThat(store.size()).isEqualTo(1);
        assertThat(store.check(conn(PrecedenceAndScopeTest.SLEEP, 80)).allowed()).isTrue();
        assertThat(store.check(conn(PrecedenceAndScopeTest.CURL, 80)).allowed()).isFalse();
    }

    @Test
    void aBadResourceIsSkippedCountedAndKeepsItsPreviousVersion() {
        store.apply(List.of(PrecedenceAndScopeTest.named("sleep")), List.of());
        Authorization broken = PrecedenceAndScopeTest.named("sleep").toBuilder().clearRules()
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addSourceIps(Address.newBuilder().setAddress(ByteString.copyFrom(new byte[5])).setLength(8)))))
                .build();

        assertThat(AuthorizationStore.problem(broken)).isEqualTo("rules[0].clauses[0].matches[0].source_ips[0]"
                + ".address: 5 bytes (expected: 4 for IPv4 or 16 for IPv6)");
        store.apply(List.of(broken, PrecedenceAndScopeTest.named("curl")), List.of());

        assertThat(store.size()).isEqualTo(2);
        assertThat(store.check(conn(PrecedenceAndScopeTest.SLEEP, 80)).allowed()).as("old version kept").isFalse();
        assertThat(metrics.scrape().stream().filter(s -> s.getMetadata().getName()
                .equals("ztunnel_authorization_rejected")).findFirst()).isPresent();
    }

    @Test
    void problemsNameTheField() {
        assertThat(AuthorizationStore.problem(Authorization.newBuilder().setName("x").build()))
                .isEqualTo("namespace: empty (expected: the policy namespace)");
        assertThat(AuthorizationStore.problem(PrecedenceAndScopeTest.named("a").toBuilder().setRules(0,
                Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(
                        Match.newBuilder().addPrincipals(StringMatch.getDefaultInstance())))).build()))
                .isEqualTo("rules[0].clauses[0].matches[0].principals[0]: no match type set"
                        + " (expected: exact, prefix, suffix or presence)");
        assertThat(AuthorizationStore.problem(PrecedenceAndScopeTest.named("a").toBuilder().setRules(0,
                Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(
                        Match.newBuilder().addDestinationPorts(70000)))).build()))
                .isEqualTo("rules[0].clauses[0].matches[0].destination_ports[0]: 70000 (expected: 1-65535)");
        assertThat(AuthorizationStore.problem(PrecedenceAndScopeTest.named("ok"))).isNull();
    }
}
