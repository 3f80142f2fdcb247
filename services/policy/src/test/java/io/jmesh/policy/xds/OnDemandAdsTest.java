package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.policy.state.MeshStateHooks;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.workload.Address;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * On-demand Address subscriptions (Istio's {@code XDS_ON_DEMAND}, server side) through one stream's real diff
 * machinery: nothing by wildcard, then aliases ({@code network/IP}, {@code namespace/hostname}) and canonical names
 * subscribed one by one, answered with the matching addresses under their canonical names, each listing the aliases
 * it was asked by, and kept up to date.
 */
class OnDemandAdsTest {

    static final String UID = "Kubernetes/networking.istio.io/WorkloadEntry/shop/";
    static final String REVIEWS = XdsTypes.hostnameAlias("shop", "reviews.shop.svc.cluster.local");

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local",
            "Kubernetes", "cluster.local"));
    final TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
    final AdsStreamTest.Captured out = new AdsStreamTest.Captured();
    final PrometheusRegistry registry = new PrometheusRegistry();

    static String entry(String ns, String name, String address, String extra) {
        return "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: " + name + ", namespace: "
                + ns + "}\nspec: {address: '" + address + "', node: node-a" + (extra == null ? "" : ", " + extra)
                + "}\n";
    }

    static final String MESH = String.join("---\n",
            entry("shop", "w1", "127.0.10.1", null),
            entry("shop", "w2", "127.0.10.2", "network: net-b"),
            entry("shop", "v6", "fd00:0:0:0:0:0:0:1", null),
            entry("shop", "twin-a", "127.0.10.9", null),
            entry("far", "twin-b", "127.0.10.9", null),
            """
            apiVersion: v1
            kind: Service
            metadata: {name: reviews, namespace: shop}
            spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{port: 80}]}
            """,
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: mesh-wide, namespace: istio-system}
            spec: {action: DENY, rules: [{from: [{source: {ipBlocks: [192.0.2.0/24]}}]}]}
            """);

    MeshState apply(String... manifests) {
        put(manifests);
        return indexed(build());
    }

    MeshState delete(String key) {
        records.remove(ConfigKey.parse(key));
        return indexed(build());
    }

    void put(String... manifests) {
        for (String m : manifests) {
            for (ParsedObject o : reader.read(m)) {
                assertThat(o.errors()).as(o.describe()).isEmpty();
                records.put(o.key(), o.record());
            }
        }
    }

    /** The next state, without its network/IP index (as a stream gets it before any on-demand lookup wanted it). */
    MeshState build() {
        return builder.build(new ConfigSnapshot(records, Map.of()), x -> { });
    }

    /** {@code s} with its network/IP index, as the registry publishes states once on-demand lookups want it. */
    static MeshState indexed(MeshState s) {
        s.ipIndex(Runnable::run).join();
        return s;
    }

    /** Runs {@code task} on {@code loop} and returns what it returns (or throws what it throws). */
    static <T> T onLoop(Context loop, Callable<T> task) throws Exception {
        CompletableFuture<T> done = new CompletableFuture<>();
        loop.runOnContext(v -> {
            try {
                done.complete(task.call());
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        });
        return done.get();
    }

    static DeltaDiscoveryRequest subscription(String... names) {
        return DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addAllResourceNamesSubscribe(List.of(names)).build();
    }

    /** A stream on {@code state} opened as Istio's ztunnel opens it on demand: {@code *} subscribed and unsubscribed. */
    AdsStream onDemand(MeshState state) {
        return onDemand(new AdsStream(null, out, "node-a", state, new AdsMetrics(registry), 10));
    }

    AdsStream onDemand(AdsStream s) {
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*").build());
        ack(s);
        return s;
    }

    void ack(AdsStream s) {
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .setResponseNonce(out.last().getNonce()).build());
    }

    /** Subscribes {@code names}, returns the response (and ACKs it). */
    DeltaDiscoveryResponse subscribe(AdsStream s, String... names) {
        int before = out.written.size();
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addAllResourceNamesSubscribe(List.of(names)).build());
        assertThat(out.written).as("a subscription is always answered").hasSize(before + 1);
        assertThat(out.last().getNonce()).isNotEmpty();
        ack(s);
        return out.written.get(before);
    }

    static Map<String, List<String>> aliasesByName(DeltaDiscoveryResponse r) {
        Map<String, List<String>> out = new TreeMap<>();
        r.getResourcesList().forEach(x -> out.put(x.getName(), x.getAliasesList()));
        return out;
    }

    static Address body(Resource r) throws Exception {
        return Address.parseFrom(r.getResource().getValue());
    }

    double invalidNames() {
        for (var m : registry.scrape()) {
            if (m.getMetadata().getName().equals("policy_xds_invalid_resource_names") && m instanceof CounterSnapshot c) {
                return c.getDataPoints().stream().filter(d -> TypeUrls.ADDRESS.equals(d.getLabels().get("type_url")))
                        .mapToDouble(d -> d.getValue()).sum();
            }
        }
        throw new AssertionError("no policy_xds_invalid_resource_names_total");
    }

    @Test
    @Timeout(120)
    void theFirstIpLookupOnAStateWithoutTheIndexIsAnsweredOnceAWorkerBuiltIt() throws Exception {
        put(MESH);
        MeshState state = build();
        List<String> builtOn = new CopyOnWriteArrayList<>();
        // the build waits until the loop's task has made both requests: a build finishing in between would answer
        // the second request on the loop at once (correct, but not the case this test holds still)
        CountDownLatch hold = new CountDownLatch(1);
        MeshStateHooks.onIpIndexBuild(state, () -> {
            builtOn.add(Context.isOnEventLoopThread() ? "event loop"
                    : Context.isOnWorkerThread() ? "worker" : Thread.currentThread().getName());
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Vertx vertx = Vertx.vertx();
        try {
            Context loop = vertx.getOrCreateContext();
            AdsStream s = onLoop(loop, () -> {
                AdsStream stream = onDemand(new AdsStream(loop, out, "node-a", state, new AdsMetrics(registry), 10));
                int before = out.written.size();
                stream.onRequest(subscription("/127.0.10.1", "/127.0.10.50"));
                stream.onRequest(subscription(REVIEWS));
                assertThat(out.written).as("the loop that asked does not build the index").hasSize(before);
                assertThat(stream.settled(TypeUrls.ADDRESS)).isFalse();
                return stream;
            });
            hold.countDown();
            await().atMost(Duration.ofSeconds(60)).until(() -> onLoop(loop, () -> out.written.size()) == 2);

            DeltaDiscoveryResponse r = onLoop(loop, out::last);
            assertThat(aliasesByName(r)).as("both pending requests answered, found and not found")
                    .containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")), Map.entry(REVIEWS, List.of()));
            assertThat(r.getRemovedResourcesList()).containsExactly("/127.0.10.50");
            assertThat(builtOn).containsExactly("worker");
            assertThat(state.ipIndexReady()).isTrue();

            // built: later lookups on this state are answered at once, on the loop
            DeltaDiscoveryResponse twins = onLoop(loop, () -> {
                ack(s);
                int before = out.written.size();
                s.onRequest(subscription("/127.0.10.9"));
                assertThat(out.written).hasSize(before + 1);
                return out.last();
            });
            assertThat(aliasesByName(twins)).containsOnlyKeys(
                    "Kubernetes/networking.istio.io/WorkloadEntry/far/twin-b", UID + "twin-a");
            assertThat(builtOn).hasSize(1);

            // wanted now: the next state is indexed before it is published
            MeshState next = build();
            next.prepareIpIndex();
            assertThat(next.ipIndexReady()).isTrue();
        } finally {
            hold.countDown();
            vertx.close().toCompletionStage().toCompletableFuture().get();
        }
    }

    @Test
    void hostnameAndCanonicalNameSubscriptionsNeverBuildTheIndex() {
        put(MESH);
        MeshState state = build();
        List<Thread> builds = new CopyOnWriteArrayList<>();
        MeshStateHooks.onIpIndexBuild(state, () -> builds.add(Thread.currentThread()));
        // no context: a stream that needed the index could not even ask a worker for it
        AdsStream s = onDemand(state);

        assertThat(aliasesByName(subscribe(s, REVIEWS))).containsExactly(Map.entry(REVIEWS, List.of()));
        DeltaDiscoveryResponse byUid = subscribe(s, UID + "w1", UID + "gone");
        assertThat(aliasesByName(byUid)).containsExactly(Map.entry(UID + "w1", List.of()));
        assertThat(byUid.getRemovedResourcesList()).containsExactly(UID + "gone");
        put(entry("shop", "w1", "127.0.10.1", "serviceAccount: changed"));
        MeshState next = build();
        s.onState(next);
        assertThat(aliasesByName(out.last())).containsExactly(Map.entry(UID + "w1", List.of()));
        ack(s);
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();

        assertThat(builds).isEmpty();
        assertThat(state.ipIndexReady()).isFalse();
        next.prepareIpIndex();
        assertThat(next.ipIndexReady()).as("never wanted: the registry does not build it either").isFalse();
    }

    @Test
    void subscribingAndUnsubscribingTheWildcardAtOnceGivesNothing() {
        MeshState state = apply(MESH);
        AdsStream s = new AdsStream(null, out, "node-a", state, new AdsMetrics(registry), 10);
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*").build());
        assertThat(out.written).singleElement().satisfies(r -> {
            assertThat(r.getNonce()).isNotEmpty();
            assertThat(r.getResourcesList()).isEmpty();
            assertThat(r.getRemovedResourcesList()).isEmpty();
        });
        ack(s);

        s.onState(apply(entry("shop", "w1", "127.0.10.1", "serviceAccount: changed"), entry("shop", "new", "127.0.10.3",
                null)));
        assertThat(out.written).as("changes to what nobody subscribed: nothing").hasSize(1);
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
    }

    @Test
    void anAliasOfAWorkloadAddressGivesThatWorkloadListingTheAlias() throws Exception {
        AdsStream s = onDemand(apply(MESH));

        DeltaDiscoveryResponse r = subscribe(s, "/127.0.10.1");
        assertThat(aliasesByName(r)).containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
        assertThat(body(r.getResources(0)).getWorkload().getName()).isEqualTo("w1");
        assertThat(r.getRemovedResourcesList()).isEmpty();

        InetAddress ip = InetAddress.getByName("127.0.10.2");
        DeltaDiscoveryResponse onNetB = subscribe(s, XdsTypes.ipAlias("net-b", ip));
        assertThat(aliasesByName(onNetB)).containsExactly(Map.entry(UID + "w2", List.of("net-b/127.0.10.2")));

        DeltaDiscoveryResponse otherNetwork = subscribe(s, XdsTypes.ipAlias("", ip));
        assertThat(otherNetwork.getResourcesList()).as("the IP is on net-b, not the default network").isEmpty();
        assertThat(otherNetwork.getRemovedResourcesList()).as("xDS: does not exist").containsExactly("/127.0.10.2");
    }

    @Test
    void aVipAliasGivesTheServiceAndItsNamespacedHostnameToo() {
        AdsStream s = onDemand(apply(MESH));

        DeltaDiscoveryResponse byVip = subscribe(s, "/10.96.0.10");
        assertThat(aliasesByName(byVip)).containsExactly(Map.entry(REVIEWS, List.of("/10.96.0.10")));

        DeltaDiscoveryResponse byHostname = subscribe(s, REVIEWS);
        assertThat(aliasesByName(byHostname)).as("held already, sent again: the answer names what was asked for")
                .containsExactly(Map.entry(REVIEWS, List.of("/10.96.0.10")));
        assertThat(byHostname.getRemovedResourcesList()).isEmpty();

        // a fresh stream asking by hostname first
        AdsStreamTest.Captured other = new AdsStreamTest.Captured();
        AdsStream second = new AdsStream(null, other, "node-a", apply(), new AdsMetrics(new PrometheusRegistry()), 10);
        second.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*").addResourceNamesSubscribe(REVIEWS)
                .build());
        assertThat(aliasesByName(other.last())).containsExactly(Map.entry(REVIEWS, List.of()));
    }

    @Test
    void aServiceComesWithItsWorkloadsAsIstiodsLookupAnswers() throws Exception {
        AdsStream s = onDemand(apply(MESH, entry("shop", "r1", "127.0.10.21", "labels: {app: reviews}"),
                entry("shop", "r2", "127.0.10.22", "labels: {app: reviews}")));

        // without its endpoints a ztunnel could not route to the service it asked for
        DeltaDiscoveryResponse byVip = subscribe(s, "/10.96.0.10");
        assertThat(aliasesByName(byVip)).containsOnly(Map.entry(REVIEWS, List.of("/10.96.0.10")),
                Map.entry(UID + "r1", List.of()), Map.entry(UID + "r2", List.of()));
        for (Resource r : byVip.getResourcesList()) {
            if (!r.getName().equals(REVIEWS)) {
                assertThat(body(r).getWorkload().getServicesMap()).containsKey(REVIEWS);
            }
        }

        // a new endpoint is pushed, one that leaves the service is removed
        s.onState(apply(entry("shop", "r3", "127.0.10.23", "labels: {app: reviews}"),
                entry("shop", "r2", "127.0.10.22", "labels: {app: ratings}")));
        assertThat(aliasesByName(out.last())).containsExactly(Map.entry(UID + "r3", List.of()));
        assertThat(out.last().getRemovedResourcesList()).containsExactly(UID + "r2");
    }

    @Test
    void namesPastTheStreamsLimitAreIgnoredAndCounted() {
        AdsStream s = onDemand(apply(MESH));
        s.limitNames(2);
        assertThat(aliasesByName(subscribe(s, "/127.0.10.1", "/10.96.0.10"))).containsOnlyKeys(UID + "w1", REVIEWS);
        DeltaDiscoveryResponse third = subscribe(s, "/127.0.10.2", "/127.0.10.1");
        assertThat(third.getResourcesList()).as("the third name is not subscribed; the second is held").hasSize(1);
        assertThat(third.getRemovedResourcesList()).isEmpty();
        assertThat(counter("policy_xds_names_over_limit")).isEqualTo(1);
    }

    double counter(String name) {
        for (var m : registry.scrape()) {
            if (m.getMetadata().getName().equals(name) && m instanceof CounterSnapshot c) {
                return c.getDataPoints().stream().filter(d -> TypeUrls.ADDRESS.equals(d.getLabels().get("type_url")))
                        .mapToDouble(d -> d.getValue()).sum();
            }
        }
        throw new AssertionError("no " + name + "_total");
    }

    @Test
    void vipAliasesAreOnTheClustersNetwork() {
        AdsStream s = onDemand(apply(MESH, "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system, labels:"
                + " {topology.istio.io/network: net-c}}\n"));
        assertThat(aliasesByName(subscribe(s, "net-c/10.96.0.10")))
                .containsExactly(Map.entry(REVIEWS, List.of("net-c/10.96.0.10")));
        assertThat(aliasesByName(subscribe(s, "net-c/127.0.10.1"))).as("a workload without a network of its own")
                .containsExactly(Map.entry(UID + "w1", List.of("net-c/127.0.10.1")));
        assertThat(subscribe(s, "/10.96.0.10").getRemovedResourcesList()).containsExactly("/10.96.0.10");
    }

    @Test
    void aCanonicalNameIsServedAsBeforeWithoutAliases() {
        AdsStream s = onDemand(apply(MESH));
        DeltaDiscoveryResponse r = subscribe(s, UID + "w1", UID + "gone");
        assertThat(aliasesByName(r)).containsExactly(Map.entry(UID + "w1", List.of()));
        assertThat(r.getRemovedResourcesList()).containsExactly(UID + "gone");
    }

    @Test
    void everyWorkloadSharingTheAddressIsSent() {
        AdsStream s = onDemand(apply(MESH));
        DeltaDiscoveryResponse r = subscribe(s, "/127.0.10.9");
        assertThat(aliasesByName(r)).containsExactly(
                Map.entry("Kubernetes/networking.istio.io/WorkloadEntry/far/twin-b", List.of("/127.0.10.9")),
                Map.entry(UID + "twin-a", List.of("/127.0.10.9")));
    }

    @Test
    void anIpv6AliasInCanonicalFormOrNot() throws Exception {
        AdsStream s = onDemand(apply(MESH));
        String canonical = XdsTypes.ipAlias("", InetAddress.getByName("fd00:0:0:0:0:0:0:1"));
        assertThat(canonical).isEqualTo("/fd00::1");
        assertThat(aliasesByName(subscribe(s, canonical))).containsExactly(Map.entry(UID + "v6", List.of("/fd00::1")));

        // the same address written longhand: it matches too, and the client learns the alias it asked by
        assertThat(aliasesByName(subscribe(s, "/fd00:0:0:0:0:0:0:1")))
                .containsExactly(Map.entry(UID + "v6", List.of("/fd00:0:0:0:0:0:0:1", "/fd00::1")));
    }

    @Test
    void anAliasMatchingNothingYetIsPushedWhenItsAddressAppearsThenKeptUpToDateAndRemoved() throws Exception {
        AdsStream s = onDemand(apply(MESH));
        DeltaDiscoveryResponse notYet = subscribe(s, "/127.0.10.50");
        assertThat(notYet.getResourcesList()).isEmpty();
        assertThat(notYet.getRemovedResourcesList()).containsExactly("/127.0.10.50");
        subscribe(s, "/127.0.10.1");
        int sent = out.written.size();

        // an unrelated change: nothing
        s.onState(apply(entry("shop", "w2", "127.0.10.2", "network: net-b, serviceAccount: other")));
        assertThat(out.written).hasSize(sent);

        // the address appears: pushed, under its canonical name, with the alias the client waits on
        s.onState(apply(entry("shop", "late", "127.0.10.50", null)));
        assertThat(out.written).hasSize(sent + 1);
        assertThat(aliasesByName(out.last())).containsExactly(Map.entry(UID + "late", List.of("/127.0.10.50")));
        ack(s);

        // a subscribed workload changes: pushed again
        s.onState(apply(entry("shop", "w1", "127.0.10.1", "serviceAccount: reviews")));
        assertThat(aliasesByName(out.last())).containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
        assertThat(body(out.last().getResources(0)).getWorkload().getServiceAccount()).isEqualTo("reviews");
        ack(s);

        // it goes away: removed by its canonical name; the alias stays subscribed
        s.onState(delete("WorkloadEntry/shop/late"));
        assertThat(out.last().getResourcesList()).isEmpty();
        assertThat(out.last().getRemovedResourcesList()).containsExactly(UID + "late");
        ack(s);
        s.onState(apply(entry("far", "late-again", "127.0.10.50", null)));
        assertThat(aliasesByName(out.last())).containsExactly(
                Map.entry("Kubernetes/networking.istio.io/WorkloadEntry/far/late-again", List.of("/127.0.10.50")));
        ack(s);

        // it moves to another address: no subscribed name matches it any more, so it is removed
        s.onState(apply(entry("shop", "w1", "127.0.10.77", "serviceAccount: reviews")));
        assertThat(out.last().getResourcesList()).isEmpty();
        assertThat(out.last().getRemovedResourcesList()).containsExactly(UID + "w1");
        ack(s);
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
    }

    @Test
    void afterUnsubscribingTheAliasNothingMoreIsPushed() {
        AdsStream s = onDemand(apply(MESH));
        subscribe(s, "/127.0.10.1", "/10.96.0.10");

        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesUnsubscribe("/127.0.10.1").build());
        assertThat(out.last().getResourcesList()).isEmpty();
        assertThat(out.last().getRemovedResourcesList()).as("what only that alias brought")
                .containsExactly(UID + "w1");
        ack(s);
        int sent = out.written.size();

        s.onState(apply(entry("shop", "w1", "127.0.10.1", "serviceAccount: changed")));
        assertThat(out.written).hasSize(sent);
        s.onState(apply("""
                apiVersion: v1
                kind: Service
                metadata: {name: reviews, namespace: shop}
                spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{port: 8080}]}
                """));
        assertThat(aliasesByName(out.last())).as("the other alias still is subscribed")
                .containsExactly(Map.entry(REVIEWS, List.of("/10.96.0.10")));
    }

    @Test
    void aBogusNameIsAnsweredEmptyCountedAndTheStreamGoesOn() {
        AdsStream s = onDemand(apply(MESH));
        String longName = "ns/" + "a".repeat(AdsStream.MAX_NAME_LENGTH);
        DeltaDiscoveryResponse r = subscribe(s, "no-slash", "/not-an-ip", "two words/10.0.0.1", "net/", "", longName,
                "net/10.0.0.1\n");
        assertThat(r.getResourcesList()).isEmpty();
        assertThat(r.getRemovedResourcesList()).as("never echoed back").isEmpty();
        assertThat(invalidNames()).isEqualTo(7);

        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesUnsubscribe("no-slash").build());
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
        assertThat(aliasesByName(subscribe(s, "/127.0.10.1")))
                .containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
    }

    @Test
    void aSubscriptionWhileAResponseAwaitsItsAckIsAnsweredAfterTheAck() {
        AdsStream s = onDemand(apply(MESH));
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("/127.0.10.1").build());
        int sent = out.written.size();
        // unacknowledged: the next subscription waits, then is answered, naming what it asked for although the
        // client holds it as it is (a client waits for a response that names its alias)
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("/127.0.10.1").build());
        assertThat(out.written).hasSize(sent);
        ack(s);
        assertThat(out.written).hasSize(sent + 1);
        assertThat(aliasesByName(out.last())).containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
        assertThat(out.last().getRemovedResourcesList()).isEmpty();
        ack(s);
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
    }

    @Test
    void aSubscribedAliasOfAResourceHeldByNameSendsItAgainWithTheAlias() {
        AdsStream s = onDemand(apply(MESH));
        subscribe(s, UID + "w1");
        assertThat(aliasesByName(subscribe(s, "/127.0.10.1")))
                .containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
        assertThat(aliasesByName(subscribe(s, "/127.0.10.1"))).as("already held with it: named again all the same")
                .containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
        // a change to something else answers no subscription and sends nothing about w1
        s.onState(apply(entry("shop", "w2", "127.0.10.2", "network: net-b, serviceAccount: other")));
        assertThat(s.settled(TypeUrls.ADDRESS)).isTrue();
    }

    @Test
    void aReconnectingOnDemandClientKeepsWhatItHeld() {
        MeshState state = apply(MESH);
        AdsStream s = new AdsStream(null, out, "node-a", state, new AdsMetrics(registry), 10);
        // as Istio's ztunnel reconnects: the same first request, plus every name it subscribed or received
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*")
                .putInitialResourceVersions("/127.0.10.1", "").putInitialResourceVersions(UID + "w1", "")
                .putInitialResourceVersions("/127.0.10.60", "").putInitialResourceVersions(UID + "gone", "")
                .build());
        assertThat(aliasesByName(out.last())).containsExactly(Map.entry(UID + "w1", List.of("/127.0.10.1")));
        assertThat(out.last().getRemovedResourcesList()).containsExactlyInAnyOrder("/127.0.10.60", UID + "gone");
        ack(s);

        s.onState(apply(entry("shop", "later", "127.0.10.60", null)));
        assertThat(aliasesByName(out.last())).as("the alias it held stays subscribed")
                .containsExactly(Map.entry(UID + "later", List.of("/127.0.10.60")));
    }

    @Test
    void authorizationStaysWildcardBesideAnOnDemandAddressSubscription() {
        AdsStream s = onDemand(apply(MESH));
        s.onRequest(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.AUTHORIZATION).build());
        assertThat(out.last().getTypeUrl()).isEqualTo(TypeUrls.AUTHORIZATION);
        assertThat(out.last().getResourcesList()).extracting(Resource::getName)
                .containsExactly("istio-system/mesh-wide");
    }
}
