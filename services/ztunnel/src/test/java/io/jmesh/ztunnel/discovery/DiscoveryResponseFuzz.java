package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.security.Action;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.security.Clause;
import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.Rule;
import io.jmesh.proto.istio.security.Scope;
import io.jmesh.proto.istio.security.StringMatch;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Port;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.NameLookups;
import io.jmesh.testing.fuzz.ProtoMutator;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.ConnectionFacts;
import io.jmesh.ztunnel.authz.IndexedAuthorizer;
import io.jmesh.ztunnel.outbound.OutboundRouter;
import io.jmesh.ztunnel.outbound.Route;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Delta xDS responses as any control plane may send them to ztunnel (policy, or an istiod: the Istio ztunnel's
 * {@code protobuf} fuzz target is the same boundary), mutated as bytes and field by field inside their resources
 * ({@link ProtoMutator}), through what ztunnel does with one
 * ({@link DiscoveryResponses#apply}) and then with what it kept: routing outbound connections to every workload
 * address, service VIP and hostname ({@link OutboundRouter#route}) and authorizing inbound ones to every workload
 * ({@link IndexedAuthorizer#check}). The stores live across inputs, as over one stream, and start afresh every
 * {@link #FRESH_EVERY} inputs.
 *
 * <p>Oracle: a response that is not protobuf is the gRPC layer's to refuse; any other is applied without an
 * exception; each resource left out has a reason that names it (the NACK's detail); every resource accepted and not
 * removed in the same response is in the store as sent; every route is a route or a refusal with a reason and a
 * detail, never an exception or a name lookup; every authorization check gives a decision. Each input within
 * {@link #SLOW}.
 */
@Tag("fuzz")
class DiscoveryResponseFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final int FRESH_EVERY = 500;
    /** Routes and checks per input: enough to reach what the response brought, bounded for a large store. */
    static final int MOST_CHECKS = 64;
    static final SpiffeId PEER = SpiffeId.of("cluster.local", "default", "sleep");

    static OutboundRouter router;
    WorkloadStore store = new WorkloadStore();
    IndexedAuthorizer policies = new IndexedAuthorizer();
    final Map<String, Integer> outcomes = new TreeMap<>();
    long inputs;

    @BeforeAll
    static void setUp() {
        router = new OutboundRouter(ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config());
        NameLookups.install();
    }

    @AfterAll
    static void stopWatching() {
        NameLookups.uninstall();
    }

    static byte[][] seeds() {
        Workload reviews = Workload.newBuilder().setUid("Kubernetes//Pod/default/reviews-1").setName("reviews-1")
                .setNamespace("default").setServiceAccount("reviews").setNode("node-b").setTrustDomain("cluster.local")
                .addAddresses(ip(10, 0, 1, 1)).addAddresses(ByteString.copyFrom(v6(0x11)))
                .setTunnelProtocol(TunnelProtocol.HBONE).putServices("default/reviews.default.svc.cluster.local",
                        PortList.newBuilder().addPorts(Port.newBuilder().setServicePort(9080).setTargetPort(8080))
                                .build())
                .addAuthorizationPolicies("default/allow-sleep").build();
        Workload behindWaypoint = reviews.toBuilder().setUid("Kubernetes//Pod/default/ratings-1").setName("ratings-1")
                .clearAddresses().addAddresses(ip(10, 0, 4, 1)).clearServices().setWaypoint(GatewayAddress.newBuilder()
                        .setAddress(NetworkAddress.newBuilder().setAddress(ip(10, 0, 3, 1))).setHboneMtlsPort(15008))
                .setNetworkGateway(GatewayAddress.newBuilder().setHostname(
                        io.jmesh.proto.istio.workload.NamespacedHostname.newBuilder().setNamespace("istio-system")
                                .setHostname("eastwest.istio-system.svc.cluster.local")).setHboneMtlsPort(15008))
                .setNetwork("net-b").build();
        Service service = Service.newBuilder().setName("reviews").setNamespace("default")
                .setHostname("reviews.default.svc.cluster.local").addAddresses(NetworkAddress.newBuilder()
                        .setAddress(ip(10, 96, 0, 1))).addPorts(Port.newBuilder().setServicePort(9080).setTargetPort(8080))
                .setLoadBalancing(LoadBalancing.newBuilder().addRoutingPreference(LoadBalancing.Scope.ZONE)
                        .setMode(LoadBalancing.Mode.FAILOVER))
                .build();
        Service withWaypoint = service.toBuilder().setName("ratings").setHostname("ratings.default.svc.cluster.local")
                .clearAddresses().addAddresses(NetworkAddress.newBuilder().setAddress(ip(10, 96, 0, 2)))
                .setWaypoint(GatewayAddress.newBuilder().setAddress(NetworkAddress.newBuilder()
                        .setAddress(ip(10, 0, 3, 1)))).clearLoadBalancing().build();
        Authorization allow = Authorization.newBuilder().setName("allow-sleep").setNamespace("default")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.ALLOW).addRules(Rule.newBuilder().addClauses(
                        Clause.newBuilder().addMatches(Match.newBuilder()
                                .addPrincipals(StringMatch.newBuilder().setSuffix("/sa/sleep"))
                                .addNamespaces(StringMatch.newBuilder().setExact("default"))
                                .addSourceIps(io.jmesh.proto.istio.security.Address.newBuilder()
                                        .setAddress(ip(10, 0, 0, 0)).setLength(8))
                                .addDestinationPorts(8080))))
                .build();
        Authorization deny = Authorization.newBuilder().setName("deny-evil").setNamespace("istio-system")
                .setScope(Scope.GLOBAL).setAction(Action.DENY).addRules(Rule.newBuilder().addClauses(
                        Clause.newBuilder().addMatches(Match.newBuilder()
                                .addNotNamespaces(StringMatch.newBuilder().setPrefix("kube-"))
                                .addNotDestinationPorts(22))))
                .build();
        return new byte[][] {
            response(XdsTypes.ADDRESS, List.of(resource(reviews.getUid(), Address.newBuilder().setWorkload(reviews)),
                    resource(behindWaypoint.getUid(), Address.newBuilder().setWorkload(behindWaypoint)),
                    resource("default/reviews.default.svc.cluster.local", Address.newBuilder().setService(service)),
                    resource("default/ratings.default.svc.cluster.local",
                            Address.newBuilder().setService(withWaypoint))), List.of()),
            response(XdsTypes.ADDRESS, List.of(), List.of(reviews.getUid(), "default/ratings.default.svc.cluster.local")),
            response(XdsTypes.AUTHORIZATION, List.of(resource("default/allow-sleep", allow),
                    resource("istio-system/deny-evil", deny)), List.of("default/gone"))};
    }

    @Test
    void everyResponseIsAppliedOrRefusedByNameAndWhatWasKeptRoutesAndAuthorizes() {
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named("discovery-response", 4096).seeds(seeds())
                .mutator(ProtoMutator.of(DeltaDiscoveryResponse.getDefaultInstance(), Map.of(
                        "type.googleapis.com/istio.workload.Address", Address.getDefaultInstance(),
                        "type.googleapis.com/istio.security.Authorization", Authorization.getDefaultInstance())))
                .run(input -> assertTimeoutPreemptively(SLOW, () -> NameLookups.forbidden(() -> {
                    handle(input);
                    return null;
                }), "one response took longer than " + SLOW)), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        System.out.println("fuzz discovery-response: outcomes " + outcomes);
        assertThat(outcomes).as("some resources must be applied, not only refused").containsKey("accepted");
    }

    /**
     * The same checks under Jazzer, coverage-guided through discovery's validation, the stores, routing and
     * authorization (`make fuzz`).
     */
    @MethodSource("jazzerSeeds")
    @FuzzTest(maxDuration = "60s")
    void everyResponseCoverageGuided(byte[] input) throws Exception {
        Fuzzer.withinTwice(SLOW, in -> NameLookups.forbidden(() -> {
            handle(in);
            return null;
        }), input);
    }

    static Stream<Arguments> jazzerSeeds() {
        return Stream.of(seeds()).map(s -> Arguments.of((Object) s));
    }

    private void handle(byte[] input) throws Exception {
        if (++inputs % FRESH_EVERY == 0) {
            store = new WorkloadStore();
            policies = new IndexedAuthorizer();
        }
        DeltaDiscoveryResponse r;
        try {
            r = DeltaDiscoveryResponse.parseFrom(input);
        } catch (InvalidProtocolBufferException e) {
            count("not_protobuf", 1); // the gRPC layer fails such a message: the stream, not ztunnel's state
            return;
        }
        DiscoveryResponses.Applied applied = DiscoveryResponses.apply(r, store, policies);
        Set<String> names = new HashSet<>();
        r.getResourcesList().forEach(res -> names.add(res.getName()));
        for (String error : applied.errors()) {
            assertThat(error.startsWith("unsubscribed type ") || names.stream().anyMatch(n -> error.startsWith(n + ": ")
                    || error.startsWith("workload " + n + ": ") || error.startsWith("service " + n + ": ")
                    || error.startsWith("address " + n + ": "))).as("'%s' names its resource", error).isTrue();
        }
        count("refused", applied.errors().size());
        count("accepted", applied.accepted().size());
        WorkloadIndex index = store.current();
        if (XdsTypes.ADDRESS.equals(r.getTypeUrl())) {
            for (String name : applied.accepted().keySet()) {
                if (!r.getRemovedResourcesList().contains(name)) {
                    // one of the resources of that name (a response may repeat a name; one of them was valid)
                    List<Address> sent = new ArrayList<>();
                    for (Resource res : r.getResourcesList()) {
                        if (res.getName().equals(name)) {
                            try {
                                sent.add(res.getResource().unpack(Address.class));
                            } catch (InvalidProtocolBufferException e) {
                                // refused, named in the errors
                            }
                        }
                    }
                    assertThat(sent).as("accepted %s", name).contains(index.resources().get(name));
                }
            }
        }
        routeAndAuthorize(index);
    }

    /** What the data path does with the stores: route to every address, authorize to every workload. */
    private void routeAndAuthorize(WorkloadIndex index) throws Exception {
        Workload source = Workload.newBuilder().setUid("src").setName("sleep").setNamespace("default")
                .setServiceAccount("sleep").setTrustDomain("cluster.local").addAddresses(ip(10, 0, 0, 1))
                .setTunnelProtocol(TunnelProtocol.HBONE).build();
        List<Runnable> checks = new ArrayList<>();
        for (Workload w : index.workloads()) {
            for (ByteString a : w.getAddressesList()) {
                InetAddress ip = InetAddress.getByAddress(a.toByteArray());
                int port = w.getServicesMap().values().stream().flatMap(p -> p.getPortsList().stream())
                        .mapToInt(Port::getTargetPort).filter(p -> p > 0).findFirst().orElse(8080);
                checks.add(() -> route(index, source, ip.getHostAddress(), port));
                checks.add(() -> assertThat(policies.check(new ConnectionFacts(PEER, InetAddress.getLoopbackAddress(),
                        ip, port, w.getNamespace(), w.getAuthorizationPoliciesList()))).isNotNull());
            }
        }
        for (Service s : index.services()) {
            for (Port p : s.getPortsList()) {
                checks.add(() -> route(index, source, s.getHostname(), p.getServicePort()));
                for (NetworkAddress a : s.getAddressesList()) {
                    checks.add(() -> route(index, source, literal(a.getAddress()), p.getServicePort()));
                }
            }
        }
        checks.stream().limit(MOST_CHECKS).forEach(Runnable::run);
    }

    private static void route(WorkloadIndex index, Workload source, String host, int port) {
        Route route = router.route(index, source, host, port);
        assertThat(route).as("route to %s:%s", host, port).isNotNull();
        if (route instanceof Route.Reject reject) {
            assertThat(reject.reason()).isNotBlank();
            assertThat(reject.detail()).isNotBlank();
        }
    }

    private void count(String outcome, int n) {
        if (n > 0) {
            outcomes.merge(outcome, n, Integer::sum);
        }
    }

    private static String literal(ByteString address) {
        try {
            return InetAddress.getByAddress(address.toByteArray()).getHostAddress();
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError("an accepted address of " + address.size() + " bytes", e);
        }
    }

    private static Resource resource(String name, com.google.protobuf.MessageOrBuilder message) {
        com.google.protobuf.Message m = message instanceof com.google.protobuf.Message.Builder b ? b.build()
                : (com.google.protobuf.Message) message;
        return Resource.newBuilder().setName(name).setVersion("1").setResource(Any.pack(m)).build();
    }

    private static byte[] response(String type, List<Resource> resources, List<String> removed) {
        return DeltaDiscoveryResponse.newBuilder().setTypeUrl(type).setNonce("n1").setSystemVersionInfo("v1")
                .addAllResources(resources).addAllRemovedResources(removed).build().toByteArray();
    }

    private static ByteString ip(int a, int b, int c, int d) {
        return ByteString.copyFrom(new byte[] {(byte) a, (byte) b, (byte) c, (byte) d});
    }

    private static byte[] v6(int last) {
        byte[] b = new byte[16];
        b[0] = (byte) 0xfd;
        b[15] = (byte) last;
        return b;
    }
}
