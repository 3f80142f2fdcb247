package io.jmesh.ztunnel.authz;

import static io.jmesh.ztunnel.authz.Policies.cidr;
import static io.jmesh.ztunnel.authz.Policies.conn;
import static io.jmesh.ztunnel.authz.Policies.exact;
import static io.jmesh.ztunnel.authz.Policies.prefix;
import static io.jmesh.ztunnel.authz.Policies.presence;
import static io.jmesh.ztunnel.authz.Policies.suffix;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.ServiceAccountMatch;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One row per match field and variant: a namespace-wide ALLOW with that single match, and whether a given
 * connection is allowed by it (allowed = the match matched, since an ALLOW is in scope).
 */
class MatchFieldsTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final String OTHER = "spiffe://cluster.local/ns/other/sa/curl";

    static Stream<Arguments> table() {
        return Stream.of(
                // principals: exact / prefix / suffix / presence; spiffe:// stripped before comparing
                row("principal exact hit", m().addPrincipals(exact("cluster.local/ns/default/sa/sleep")),
                        conn(SLEEP, 80), true),
                row("principal exact miss", m().addPrincipals(exact("cluster.local/ns/default/sa/sleep")),
                        conn(OTHER, 80), false),
                row("principal compared without spiffe://", m().addPrincipals(exact(SLEEP)), conn(SLEEP, 80), false),
                row("principal prefix hit", m().addPrincipals(prefix("cluster.local/ns/default/")),
                        conn(SLEEP, 80), true),
                row("principal prefix miss", m().addPrincipals(prefix("cluster.local/ns/default/")),
                        conn(OTHER, 80), false),
                row("principal suffix hit", m().addPrincipals(suffix("/sa/curl")), conn(OTHER, 80), true),
                row("principal suffix miss", m().addPrincipals(suffix("/sa/curl")), conn(SLEEP, 80), false),
                row("principal presence with identity", m().addPrincipals(presence()), conn(SLEEP, 80), true),
                row("principal presence without identity", m().addPrincipals(presence()), conn(null, 80), false),
                row("principals are OR-ed", m().addPrincipals(exact("x")).addPrincipals(suffix("/sa/sleep")),
                        conn(SLEEP, 80), true),
                row("not_principals excludes", m().addNotPrincipals(suffix("/sa/sleep")), conn(SLEEP, 80), false),
                row("not_principals lets others", m().addNotPrincipals(suffix("/sa/sleep")), conn(OTHER, 80), true),
                row("not_principals presence catches plaintext", m().addNotPrincipals(presence()),
                        conn(null, 80), true),
                row("not_principals presence spares mTLS", m().addNotPrincipals(presence()), conn(SLEEP, 80), false),
                // namespaces from the peer's SPIFFE id
                row("namespace exact hit", m().addNamespaces(exact("other")), conn(OTHER, 80), true),
                row("namespace exact miss", m().addNamespaces(exact("other")), conn(SLEEP, 80), false),
                row("namespace prefix", m().addNamespaces(prefix("oth")), conn(OTHER, 80), true),
                row("namespace needs an identity", m().addNamespaces(presence()), conn(null, 80), false),
                row("not_namespaces excludes", m().addNotNamespaces(exact("other")), conn(OTHER, 80), false),
                row("not_namespaces lets others", m().addNotNamespaces(exact("other")), conn(SLEEP, 80), true),
                // service accounts: namespace + name of the peer
                row("service account hit", m().addServiceAccounts(sa("default", "sleep")), conn(SLEEP, 80), true),
                row("service account other namespace", m().addServiceAccounts(sa("other", "sleep")),
                        conn(SLEEP, 80), false),
                row("service account without identity", m().addServiceAccounts(sa("default", "sleep")),
                        conn(null, 80), false),
                row("not_service_accounts excludes", m().addNotServiceAccounts(sa("default", "sleep")),
                        conn(SLEEP, 80), false),
                row("not_service_accounts lets others", m().addNotServiceAccounts(sa("default", "sleep")),
                        conn(OTHER, 80), true),
                // as Istio's ztunnel: the trust domain is not compared; no identity is in no not_service_accounts
                row("service account of another trust domain", m().addServiceAccounts(sa("default", "sleep")),
                        conn("spiffe://other.domain/ns/default/sa/sleep", 80), true),
                row("not_service_accounts lets identity-less peers", m().addNotServiceAccounts(sa("default", "sleep")),
                        conn(null, 80), true),
                // source ips: CIDR vs TCP peer
                row("source ip in /24", m().addSourceIps(cidr("10.0.0.0", 24)), conn(SLEEP, "10.0.0.77", 80), true),
                row("source ip outside /24", m().addSourceIps(cidr("10.0.0.0", 24)),
                        conn(SLEEP, "10.0.1.77", 80), false),
                row("source ip /32 exact", m().addSourceIps(cidr("10.0.0.1", 32)), conn(SLEEP, 80), true),
                row("source ip odd prefix /23", m().addSourceIps(cidr("10.0.2.0", 23)),
                        conn(SLEEP, "10.0.3.9", 80), true),
                row("source ip odd prefix /23 miss", m().addSourceIps(cidr("10.0.2.0", 23)),
                        conn(SLEEP, "10.0.4.9", 80), false),
                row("source ip /0 matches all IPv4", m().addSourceIps(cidr("0.0.0.0", 0)), conn(null, 80), true),
                row("source ip family mismatch", m().addSourceIps(cidr("::", 0)), conn(SLEEP, 80), false),
                row("source ip IPv6", m().addSourceIps(cidr("fd00::", 16)), conn(SLEEP, "fd00::7", 80), true),
                row("not_source_ips excludes", m().addNotSourceIps(cidr("10.0.0.0", 8)), conn(SLEEP, 80), false),
                row("not_source_ips lets others", m().addNotSourceIps(cidr("192.168.0.0", 16)),
                        conn(SLEEP, 80), true),
                // destination ips: CIDR vs the destination workload address (10.1.0.5)
                row("destination ip hit", m().addDestinationIps(cidr("10.1.0.0", 16)), conn(SLEEP, 80), true),
                row("destination ip miss", m().addDestinationIps(cidr("10.2.0.0", 16)), conn(SLEEP, 80), false),
                row("not_destination_ips excludes", m().addNotDestinationIps(cidr("10.1.0.5", 32)),
                        conn(SLEEP, 80), false),
                // ports = the target port
                row("port hit", m().addDestinationPorts(8080), conn(SLEEP, 8080), true),
                row("port miss", m().addDestinationPorts(8080), conn(SLEEP, 9090), false),
                row("ports are OR-ed", m().addDestinationPorts(1).addDestinationPorts(9090), conn(SLEEP, 9090), true),
                row("not_ports excludes", m().addNotDestinationPorts(8080), conn(SLEEP, 8080), false),
                row("not_ports lets others", m().addNotDestinationPorts(8080), conn(SLEEP, 9090), true),
                // fields are AND-ed
                row("principal and port both hold", m().addPrincipals(presence()).addDestinationPorts(80),
                        conn(SLEEP, 80), true),
                row("principal holds, port does not", m().addPrincipals(presence()).addDestinationPorts(80),
                        conn(SLEEP, 81), false),
                row("when-derived source.ip and destination.port", m().addSourceIps(cidr("10.0.0.1", 32))
                        .addDestinationPorts(80).addNotNamespaces(exact("other")), conn(SLEEP, 80), true),
                // an all-empty match never matches
                row("empty match never matches", m(), conn(SLEEP, 80), false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void matchFieldDecidesTheAllow(String name, Match match, ConnectionFacts facts, boolean allowed) {
        IndexedAuthorizer authz = new IndexedAuthorizer();
        authz.replaceAll(java.util.List.of(Policies.policy("default", "p", Scope.NAMESPACE, Action.ALLOW, match)));

        Decision d = authz.check(facts);

        assertThat(d.allowed()).as(name).isEqualTo(allowed);
        assertThat(d.policy()).isEqualTo(allowed ? "default/p" : "");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void sameMatchInADenyDeniesExactlyWhatItMatches(String name, Match match, ConnectionFacts facts,
            boolean matches) {
        IndexedAuthorizer authz = new IndexedAuthorizer();
        authz.replaceAll(java.util.List.of(Policies.policy("default", "d", Scope.NAMESPACE, Action.DENY, match)));

        assertThat(authz.check(facts).allowed()).as(name).isEqualTo(!matches);
    }

    private static Arguments row(String name, Match.Builder match, ConnectionFacts facts, boolean allowed) {
        return Arguments.of(name, match.build(), facts, allowed);
    }

    private static Match.Builder m() {
        return Match.newBuilder();
    }

    private static ServiceAccountMatch sa(String ns, String name) {
        return ServiceAccountMatch.newBuilder().setNamespace(ns).setServiceAccount(name).build();
    }
}
