package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.UInt32Value;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.LoadBalancing.HealthPolicy;
import io.jmesh.proto.istio.workload.LoadBalancing.Mode;
import io.jmesh.proto.istio.workload.LoadBalancing.Scope;
import io.jmesh.proto.istio.workload.Locality;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.ztunnel.testing.FixedDraw;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Istio's endpoint choice for a service: health policy, rank by the leading routing preferences shared with the
 * source (each scope, FAILOVER fallback order, STRICT refusal), capacity weighting within the kept rank. Draws are
 * fixed ({@link FixedDraw}), so every expectation is exact.
 */
class ServiceEndpointsTest {

    static final String SVC = "shop/reviews.shop.svc.cluster.local";

    /** The source: network n1, region r1, zone z1, subzone s1, node a, cluster c1. */
    static final Workload SOURCE = wl("src", "n1", "r1", "z1", "s1", "a", "c1").build();

    // ---- each scope on its own --------------------------------------------------------------------------------

    /** Two endpoints differing only in {@code scope}: "same" shares the source's value, "other" does not. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Scope.class, names = {"REGION", "ZONE", "SUBZONE", "NODE", "CLUSTER", "NETWORK"})
    void eachScopeComparesItsOwnFieldOfTheSource(Scope scope) {
        Workload same = wl("same", "n1", "r1", "z1", "s1", "a", "c1").build();
        Workload other = with(scope, wl("other", "n1", "r1", "z1", "s1", "a", "c1"), "elsewhere").build();
        assertThat(ServiceEndpoints.rank(SOURCE, same, new Scope[] {scope})).isEqualTo(1);
        assertThat(ServiceEndpoints.rank(SOURCE, other, new Scope[] {scope})).isEqualTo(0);
        // however the draw falls, FAILOVER keeps the matching one; STRICT too
        for (Mode mode : List.of(Mode.FAILOVER, Mode.STRICT)) {
            ServiceEndpoints e = endpoints(lb(mode, scope), other, same);
            assertThat(uids(e, SOURCE)).as(mode.name()).containsExactly("same");
        }
        // a source without that field (empty) matches endpoints without it: equal strings, as Istio compares
        Workload bare = Workload.newBuilder().setUid("bare").setNamespace("shop").build();
        Workload unset = Workload.newBuilder().setUid("unset").setNamespace("shop").build();
        assertThat(ServiceEndpoints.rank(bare, unset, new Scope[] {scope})).isEqualTo(1);
    }

    @Test
    void rankCountsLeadingMatchesOnlyAndStopsAtTheFirstMismatch() {
        Scope[] prefs = {Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE};
        assertThat(ServiceEndpoints.rank(SOURCE, wl("x", "n1", "r1", "z1", "s1", "b", "c2").build(), prefs))
                .isEqualTo(4);
        assertThat(ServiceEndpoints.rank(SOURCE, wl("x", "n1", "r1", "z2", "s1", "a", "c1").build(), prefs))
                .as("subzone s1 matches but follows a mismatched zone").isEqualTo(2);
        assertThat(ServiceEndpoints.rank(SOURCE, wl("x", "n2", "r1", "z1", "s1", "a", "c1").build(), prefs))
                .as("another network: nothing else counts").isEqualTo(0);
    }

    // ---- FAILOVER: fall back rank by rank ----------------------------------------------------------------------

    static Stream<Arguments> failoverOrder() {
        // Istio's PreferSameZone preferences; one endpoint per rank, each removed in turn
        return Stream.of(
                Arguments.of(Set.of(), "rank4"),
                Arguments.of(Set.of("rank4"), "rank3"),
                Arguments.of(Set.of("rank4", "rank3"), "rank2"),
                Arguments.of(Set.of("rank4", "rank3", "rank2"), "rank1"),
                Arguments.of(Set.of("rank4", "rank3", "rank2", "rank1"), "rank0"));
    }

    @ParameterizedTest(name = "unhealthy {0} -> {1}")
    @MethodSource("failoverOrder")
    void failoverKeepsTheClosestHealthyRank(Set<String> unhealthy, String expected) {
        List<Workload> all = new ArrayList<>();
        for (Workload.Builder b : List.of(
                wl("rank4", "n1", "r1", "z1", "s1", "b", "c1"),
                wl("rank3", "n1", "r1", "z1", "s9", "b", "c1"),
                wl("rank2", "n1", "r1", "z9", "s1", "b", "c1"),
                wl("rank1", "n1", "r9", "z1", "s1", "b", "c1"),
                wl("rank0", "n9", "r1", "z1", "s1", "b", "c1"))) {
            if (unhealthy.contains(b.getUid())) {
                b.setStatus(WorkloadStatus.UNHEALTHY);
            }
            all.add(b.build());
        }
        ServiceEndpoints e = endpoints(lb(Mode.FAILOVER, Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE),
                all.toArray(new Workload[0]));
        assertThat(uids(e, SOURCE)).containsExactly(expected);
    }

    @Test
    void failoverWithSeveralEndpointsPerRankKeepsThemAll() {
        ServiceEndpoints e = endpoints(lb(Mode.FAILOVER, Scope.REGION, Scope.ZONE),
                wl("z1-a", "n1", "r1", "z1", "", "b", "c1").build(),
                wl("z1-b", "n2", "r1", "z1", "", "c", "c2").build(),
                wl("z2", "n1", "r1", "z2", "", "a", "c1").build(),
                wl("r2", "n1", "r2", "z1", "", "a", "c1").build());
        assertThat(uids(e, SOURCE)).containsExactly("z1-a", "z1-b");
        // another source: its own best rank (memoized apart from the first one's)
        Workload inR2 = wl("src2", "n1", "r2", "z7", "", "a", "c1").build();
        assertThat(uids(e, inR2)).containsExactly("r2");
        assertThat(uids(e, SOURCE)).containsExactly("z1-a", "z1-b");
    }

    // ---- STRICT ------------------------------------------------------------------------------------------------

    @Test
    void strictRefusesWhenNoEndpointMatchesEveryPreference() {
        ServiceEndpoints e = endpoints(lb(Mode.STRICT, Scope.NODE),
                wl("on-b", "n1", "r1", "z1", "s1", "b", "c1").build(),
                wl("on-c", "n1", "r1", "z1", "s1", "c", "c1").build());
        ServiceEndpoints.Choice c = e.choose(SOURCE, 9080, FixedDraw.of(0));
        assertThat(c).isInstanceOfSatisfying(ServiceEndpoints.NoEndpoint.class, n -> {
            assertThat(n.reason()).isEqualTo("no_endpoint_in_locality");
            assertThat(n.detail()).isEqualTo("service " + SVC + " has 2 healthy endpoint(s) for port 9080 but none"
                    + " in the source's locality (load_balancing STRICT, source NODE='a')");
        });
        // FAILOVER with the same preference would have used them
        assertThat(uids(endpoints(lb(Mode.FAILOVER, Scope.NODE), e.service(), "on-b", "on-c"), SOURCE))
                .containsExactly("on-b", "on-c");
    }

    @Test
    void strictKeepsOnlyFullMatchesEvenWhenPartialOnesAreCloser() {
        ServiceEndpoints e = endpoints(lb(Mode.STRICT, Scope.REGION, Scope.ZONE, Scope.NODE),
                wl("full", "n9", "r1", "z1", "s9", "a", "c9").build(),
                wl("partial", "n1", "r1", "z1", "s1", "b", "c1").build());
        assertThat(uids(e, SOURCE)).containsExactly("full");
    }

    // ---- weighting within the kept rank ------------------------------------------------------------------------

    static Stream<Arguments> draws() {
        // kept rank: heavy (capacity 3), light (1), none (0); sorted by uid: heavy, light, none
        return Stream.of(
                Arguments.of(0L, "heavy"), Arguments.of(2L, "heavy"),
                Arguments.of(3L, "light"));
    }

    @ParameterizedTest(name = "draw {0} of 4 -> {1}")
    @MethodSource("draws")
    void withinTheRankEndpointsAreDrawnInProportionToCapacity(long draw, String expected) {
        ServiceEndpoints e = endpoints(lb(Mode.FAILOVER, Scope.ZONE),
                capacity(wl("heavy", "n1", "r1", "z1", "", "b", "c1"), 3),
                capacity(wl("light", "n1", "r1", "z1", "", "c", "c1"), 1),
                capacity(wl("none", "n1", "r1", "z1", "", "d", "c1"), 0),
                capacity(wl("far", "n1", "r1", "z2", "", "a", "c1"), 1000));
        FixedDraw d = FixedDraw.of(draw);
        assertThat(((ServiceEndpoints.Endpoint) e.choose(SOURCE, 9080, d)).workload().getUid()).isEqualTo(expected);
        assertThat(d.bounds).as("the draw spans the kept rank's capacities only").containsExactly(4L);
    }

    @Test
    void aRankWhoseCapacitiesAreAllZeroHasNoEndpoint() {
        // Istio's choose_weighted over capacities fails when they sum to 0: no upstream, NoHealthyUpstream
        ServiceEndpoints e = endpoints(lb(Mode.UNSPECIFIED_MODE),
                capacity(wl("a", "n1", "r1", "z1", "", "b", "c1"), 0),
                capacity(wl("b", "n1", "r1", "z1", "", "b", "c1"), 0));
        assertThat(e.choose(SOURCE, 9080, FixedDraw.of(1))).isInstanceOfSatisfying(ServiceEndpoints.NoEndpoint.class,
                n -> {
                    assertThat(n.reason()).isEqualTo(ServiceEndpoints.NO_HEALTHY_UPSTREAM);
                    assertThat(n.detail()).contains("capacity 0");
                });
        assertThat(e.chooseAny(SOURCE, FixedDraw.of(1))).as("nor a waypoint or gateway among them").isNull();
        // one endpoint alone is no exception
        ServiceEndpoints alone = endpoints(lb(Mode.UNSPECIFIED_MODE),
                capacity(wl("a", "n1", "r1", "z1", "", "b", "c1"), 0));
        assertThat(alone.choose(SOURCE, 9080, FixedDraw.of(0))).isInstanceOf(ServiceEndpoints.NoEndpoint.class);
    }

    @Test
    void failoverKeepsTheBestRankEvenWhenItsCapacitiesAreAllZero() {
        // Istio ranks every eligible endpoint, keeps the best rank, then draws by capacity: no fallback to a worse
        // rank that has capacity
        ServiceEndpoints e = endpoints(lb(Mode.FAILOVER, Scope.ZONE),
                capacity(wl("near", "n1", "r1", "z1", "", "b", "c1"), 0),
                capacity(wl("far", "n1", "r1", "z2", "", "a", "c1"), 5));
        assertThat(e.choose(SOURCE, 9080, FixedDraw.of(0))).isInstanceOf(ServiceEndpoints.NoEndpoint.class);
    }

    // ---- health policy -----------------------------------------------------------------------------------------

    @Test
    void onlyHealthyByDefaultAllowAllIncludesUnhealthyEndpointsInTheirRank() {
        Workload closeButDown = wl("close", "n1", "r1", "z1", "s1", "b", "c1").setStatus(WorkloadStatus.UNHEALTHY)
                .build();
        Workload far = wl("far", "n1", "r2", "z1", "s1", "b", "c1").build();
        LoadBalancing failover = lb(Mode.FAILOVER, Scope.NETWORK, Scope.REGION);
        assertThat(uids(endpoints(failover, closeButDown, far), SOURCE)).containsExactly("far");
        assertThat(uids(endpoints(failover.toBuilder().setHealthPolicy(HealthPolicy.ALLOW_ALL).build(),
                closeButDown, far), SOURCE)).containsExactly("close");
        // without ranking too
        assertThat(uids(endpoints(lb(Mode.UNSPECIFIED_MODE), closeButDown, far), SOURCE)).containsExactly("far");
        assertThat(uids(endpoints(LoadBalancing.newBuilder().setHealthPolicy(HealthPolicy.ALLOW_ALL).build(),
                closeButDown, far), SOURCE)).containsExactly("close", "far");
        // only unhealthy ones: no healthy upstream
        assertThat(endpoints(failover, closeButDown).choose(SOURCE, 9080, FixedDraw.of(0)))
                .isEqualTo(new ServiceEndpoints.NoEndpoint("no_healthy_upstream", "service " + SVC
                        + " has no healthy endpoint for port 9080 (1 listed)"));
    }

    // ---- endpoints known by hostname (Istio's on-demand DNS) ------------------------------------------------------

    @Test
    void anEndpointWithAHostnameAndNoAddressIsEligibleButNeverAsAWaypoint() {
        Workload byName = wl("by-name", "n1", "r1", "z1", "s1", "b", "c1").clearAddresses()
                .setHostname("db.example.com").build();
        Workload nothing = wl("nothing", "n1", "r1", "z1", "s1", "b", "c1").clearAddresses().build();
        Workload addressed = wl("addressed", "n1", "r1", "z1", "s1", "b", "c1").build();
        ServiceEndpoints e = endpoints(lb(Mode.UNSPECIFIED_MODE), byName, nothing, addressed);
        assertThat(uids(e, SOURCE)).containsExactly("addressed", "by-name");
        // a waypoint (or gateway) behind a service is dialled at its address: only "addressed", whatever the draw
        for (long d = 0; d < 3; d++) {
            assertThat(e.chooseAny(SOURCE, FixedDraw.of(d)).getUid()).isEqualTo("addressed");
        }
        assertThat(endpoints(lb(Mode.UNSPECIFIED_MODE), byName).chooseAny(SOURCE, FixedDraw.of(0))).isNull();
        assertThat(endpoints(lb(Mode.UNSPECIFIED_MODE), nothing).choose(SOURCE, 9080, FixedDraw.of(0)))
                .isInstanceOf(ServiceEndpoints.NoEndpoint.class);
    }

    // ---- no ranking --------------------------------------------------------------------------------------------

    @Test
    void withoutAModeOrASourcePreferencesAreIgnored() {
        Workload close = wl("close", "n1", "r1", "z1", "s1", "a", "c1").build();
        Workload far = wl("far", "n9", "r9", "z9", "s9", "z", "c9").build();
        Scope[] prefs = {Scope.NETWORK, Scope.REGION};
        assertThat(uids(endpoints(lb(Mode.UNSPECIFIED_MODE, prefs), close, far), SOURCE))
                .containsExactly("close", "far");
        assertThat(uids(endpoints(lb(Mode.PASSTHROUGH, prefs), close, far), SOURCE)).containsExactly("close", "far");
        assertThat(uids(endpoints(lb(Mode.STRICT, prefs), close, far), null)).as("unknown source")
                .containsExactly("close", "far");
    }

    // ---- ports -------------------------------------------------------------------------------------------------

    @Test
    void aNamedTargetPortIsServedOnlyByEndpointsThatResolveIt() {
        Service svc = Service.newBuilder().setName("reviews").setNamespace("shop")
                .setHostname("reviews.shop.svc.cluster.local")
                .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(0)) // named: resolved per endpoint
                .addPorts(Port.newBuilder().setServicePort(81).setTargetPort(8081)).build();
        Workload resolves = wl("resolves", "n1", "r1", "z1", "s1", "b", "c1")
                .putServices(SVC, PortList.newBuilder().addPorts(Port.newBuilder().setServicePort(80)
                        .setTargetPort(9080)).build()).build();
        Workload doesNot = wl("does-not", "n1", "r1", "z1", "s1", "b", "c1")
                .putServices(SVC, PortList.getDefaultInstance()).build();
        ServiceEndpoints e = new ServiceEndpoints(svc, List.of(resolves, doesNot));
        ServiceEndpoints.Endpoint on80 = (ServiceEndpoints.Endpoint) e.choose(SOURCE, 80, FixedDraw.of(1));
        assertThat(on80.workload().getUid()).isEqualTo("resolves");
        assertThat(on80.targetPort()).isEqualTo(9080);
        assertThat(uidsOn(e, SOURCE, 81)).containsExactly("does-not", "resolves");
        assertThat(e.choose(SOURCE, 82, FixedDraw.of(0))).isEqualTo(new ServiceEndpoints.NoEndpoint(
                "no_healthy_upstream", "service " + SVC + " does not expose port 82"));
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    /** Every endpoint {@code choose} can return for {@code source}: each draw over the kept rank's span. */
    static Set<String> uids(ServiceEndpoints e, Workload source) {
        return uidsOn(e, source, 9080);
    }

    static Set<String> uidsOn(ServiceEndpoints e, Workload source, int port) {
        Set<String> out = new TreeSet<>();
        FixedDraw probe = FixedDraw.of(0);
        ServiceEndpoints.Choice first = e.choose(source, port, probe);
        if (first instanceof ServiceEndpoints.NoEndpoint n) {
            throw new AssertionError("no endpoint: " + n);
        }
        for (long d = 0; d < probe.span(); d++) {
            out.add(((ServiceEndpoints.Endpoint) e.choose(source, port, FixedDraw.of(d))).workload().getUid());
        }
        return out;
    }

    static ServiceEndpoints endpoints(LoadBalancing lb, Workload... endpoints) {
        Service svc = Service.newBuilder().setName("reviews").setNamespace("shop")
                .setHostname("reviews.shop.svc.cluster.local")
                .addPorts(Port.newBuilder().setServicePort(9080).setTargetPort(8080)).setLoadBalancing(lb).build();
        return new ServiceEndpoints(svc, Arrays.asList(endpoints));
    }

    /** The same endpoints (by uid) under another load balancing. */
    static ServiceEndpoints endpoints(LoadBalancing lb, Service like, String... uids) {
        List<Workload> ws = new ArrayList<>();
        for (String uid : uids) {
            ws.add(wl(uid, "n1", "r1", "z1", "s1", uid.substring(uid.length() - 1), "c1").build());
        }
        return new ServiceEndpoints(like.toBuilder().setLoadBalancing(lb).build(), ws);
    }

    static LoadBalancing lb(Mode mode, Scope... prefs) {
        return LoadBalancing.newBuilder().setMode(mode).addAllRoutingPreference(List.of(prefs)).build();
    }

    static Workload.Builder wl(String uid, String network, String region, String zone, String subzone, String node,
            String cluster) {
        return Workload.newBuilder().setUid(uid).setName(uid).setNamespace("shop")
                .addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, (byte) uid.hashCode()}))
                .setNetwork(network).setNode(node).setClusterId(cluster)
                .setLocality(Locality.newBuilder().setRegion(region).setZone(zone).setSubzone(subzone));
    }

    static Workload capacity(Workload.Builder b, int capacity) {
        return b.setCapacity(UInt32Value.of(capacity)).build();
    }

    static Workload.Builder with(Scope scope, Workload.Builder b, String value) {
        switch (scope) {
            case REGION -> b.getLocalityBuilder().setRegion(value);
            case ZONE -> b.getLocalityBuilder().setZone(value);
            case SUBZONE -> b.getLocalityBuilder().setSubzone(value);
            case NODE -> b.setNode(value);
            case CLUSTER -> b.setClusterId(value);
            case NETWORK -> b.setNetwork(value);
            default -> throw new IllegalArgumentException(scope.name());
        }
        return b;
    }
}
