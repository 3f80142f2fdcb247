package io.jmesh.ztunnel.authz;

import static io.jmesh.ztunnel.authz.Policies.exact;
import static io.jmesh.ztunnel.authz.Policies.policy;
import static io.jmesh.ztunnel.authz.Policies.prefix;
import static io.jmesh.ztunnel.authz.Policies.presence;
import static io.jmesh.ztunnel.authz.Policies.suffix;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The index finds a matching policy exactly when a scan of every policy would: principals written as exact values,
 * prefixes (including the empty prefix) and suffixes, mixed with presence and port-only policies that stay
 * unindexed, against peers that match one, several or none of them.
 */
class CandidateIndexTest {

    private static final String[] SEGMENTS = {"cluster.local/ns/", "a", "b", "ab", "/sa/", "x", "xy", "-1", "-12"};

    @Test
    void findsAMatchExactlyWhenAScanWould() {
        Random random = new Random(20261202L);
        for (int round = 0; round < 40; round++) {
            List<CompiledPolicy> policies = new ArrayList<>();
            int count = 1 + random.nextInt(60);
            for (int i = 0; i < count; i++) {
                Match.Builder m = Match.newBuilder();
                int matchers = 1 + random.nextInt(3);
                for (int j = 0; j < matchers; j++) {
                    m.addPrincipals(matcher(random));
                }
                if (random.nextInt(4) == 0) {
                    m.addDestinationPorts(8000 + random.nextInt(3));
                }
                policies.add(CompiledPolicy.compile(policy("ns", "p" + i, Scope.NAMESPACE, Action.ALLOW, m.build())));
            }
            CandidateIndex index = new CandidateIndex(policies);
            for (int probe = 0; probe < 300; probe++) {
                Peer peer = new Peer(random.nextInt(20) == 0 ? null : principal(random), "ns", "sa",
                        new byte[] {10, 0, 0, 1}, new byte[] {10, 0, 0, 2}, 8000 + random.nextInt(3));
                boolean scan = policies.stream().anyMatch(p -> p.matches(peer));
                CompiledPolicy found = index.firstMatch(peer);
                assertThat(found != null).as("round %d, principal %s", round, peer.principal()).isEqualTo(scan);
                if (found != null) {
                    assertThat(found.matches(peer)).isTrue();
                }
            }
        }
    }

    @Test
    void anEmptyPrefixOrSuffixMatchesEveryIdentityButNotTheAbsentOne() {
        CandidateIndex index = new CandidateIndex(List.of(
                CompiledPolicy.compile(policy("ns", "any-prefix", Scope.NAMESPACE, Action.ALLOW,
                        Match.newBuilder().addPrincipals(prefix("")).build()))));
        assertThat(index.firstMatch(peer("cluster.local/ns/a/sa/b"))).isNotNull();
        assertThat(index.firstMatch(peer(null))).isNull();
    }

    @Test
    void suffixesAreReadFromTheEnd() {
        CandidateIndex index = new CandidateIndex(List.of(
                CompiledPolicy.compile(policy("ns", "admins", Scope.NAMESPACE, Action.ALLOW,
                        Match.newBuilder().addPrincipals(suffix("/sa/admin")).build()))));
        assertThat(index.firstMatch(peer("cluster.local/ns/a/sa/admin"))).isNotNull();
        assertThat(index.firstMatch(peer("cluster.local/ns/a/sa/admin2"))).isNull();
        assertThat(index.firstMatch(peer("cluster.local/ns/a/sa/admi"))).isNull();
    }

    private static Peer peer(String principal) {
        return new Peer(principal, "a", "b", new byte[] {10, 0, 0, 1}, new byte[] {10, 0, 0, 2}, 8080);
    }

    private static StringMatch matcher(Random random) {
        String value = principal(random);
        return switch (random.nextInt(7)) {
            case 0, 1 -> exact(value);
            case 2, 3 -> prefix(value.substring(0, random.nextInt(value.length() + 1)));
            case 4, 5 -> suffix(value.substring(random.nextInt(value.length() + 1)));
            default -> presence();
        };
    }

    private static String principal(Random random) {
        StringBuilder b = new StringBuilder();
        int parts = 1 + random.nextInt(4);
        for (int i = 0; i < parts; i++) {
            b.append(SEGMENTS[random.nextInt(SEGMENTS.length)]);
        }
        return b.toString();
    }
}
