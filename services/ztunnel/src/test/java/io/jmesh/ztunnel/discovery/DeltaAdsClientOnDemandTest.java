package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The delta ADS client in on-demand mode ({@code discovery.onDemand}, Istio's {@code XDS_ON_DEMAND}) against a
 * scripted server written here from the proto: the first {@code Address} request asks for nothing (subscribe and
 * unsubscribe {@code *}), a demand subscribes its alias and completes once the answer is applied (found or not),
 * a workload's uid is answered by the resource of that name or its removal, concurrent demands share one request, an
 * unanswered demand gives up after the configured wait, a reconnect subscribes every alias again beside
 * {@code initial_resource_versions}, and {@link DeltaAdsClient#onDemandState} lists the subscriptions, bounded.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DeltaAdsClientOnDemandTest {

    Vertx vertx;
    HttpServer http;
    DeltaAdsClient client;
    WorkloadStore store;
    PrometheusRegistry metrics;
    final ConcurrentLinkedQueue<DeltaDiscoveryRequest> received = new ConcurrentLinkedQueue<>();
    final AtomicReference<GrpcServerResponse<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> stream =
            new AtomicReference<>();
    final AtomicInteger streams = new AtomicInteger();
    final AtomicInteger nonces = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> {
            streams.incrementAndGet();
            stream.set(call.response());
            call.handler(received::add);
        });
        http = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
    }

    /** The client, waiting at most {@code timeout} for an answer (long, unless a test waits for it to pass). */
    void startClient(String timeout) throws Exception {
        store = new WorkloadStore();
        metrics = new PrometheusRegistry();
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_DISCOVERY_INITIAL_BACKOFF", "20ms", "MESH_DISCOVERY_MAX_BACKOFF", "200ms",
                "MESH_DISCOVERY_ON_DEMAND", "true", "MESH_DISCOVERY_ON_DEMAND_TIMEOUT", timeout,
                "MESH_DISCOVERY_ADDRESS", "127.0.0.1:" + http.actualPort(), "MESH_LISTENERS_DNS", "-1")).config();
        client = new DeltaAdsClient(vertx, DeltaAdsClient.grpcClient(vertx, ""),
                SocketAddress.inetSocketAddress(http.actualPort(), "127.0.0.1"), () -> "", config, store,
                new RetainedPolicies(), metrics);
        store.demandFrom(client::demand);
        client.start();
        await().until(() -> !addressRequests().isEmpty());
    }

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.stop();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    List<DeltaDiscoveryRequest> addressRequests() {
        return received.stream().filter(r -> r.getTypeUrl().equals(DeltaAdsClient.ADDRESS_TYPE)
                && r.getResponseNonce().isEmpty()).toList();
    }

    /** Subscription requests (not ACKs) for {@code alias}. */
    long subscriptionsOf(String alias) {
        return addressRequests().stream().filter(r -> r.getResourceNamesSubscribeList().contains(alias)).count();
    }

    static Resource workload(String uid, String ip, String version, String... aliases) throws Exception {
        Address a = Address.newBuilder().setWorkload(Workload.newBuilder().setUid(uid).setName(uid)
                .setNamespace("default").addAddresses(ByteString.copyFrom(InetAddress.getByName(ip).getAddress())))
                .build();
        return Resource.newBuilder().setName(uid).setVersion(version).setResource(Any.pack(a))
                .addAllAliases(List.of(aliases)).build();
    }

    /** Sends one Address response; returns its nonce. */
    String push(List<Resource> resources, List<String> removed) {
        String nonce = "n" + nonces.incrementAndGet();
        var s = stream.get();
        vertx.runOnContext(v -> s.write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(DeltaAdsClient.ADDRESS_TYPE)
                .setNonce(nonce).addAllResources(resources).addAllRemovedResources(removed).build()));
        return nonce;
    }

    void ackFor(String nonce) {
        await().until(() -> received.stream().anyMatch(r -> nonce.equals(r.getResponseNonce())));
    }

    double demands(String result) {
        return counter("ztunnel_on_demand_requests", "result", result);
    }

    /** The sum of a counter's series whose labels include {@code labels} (name, value, ...). */
    double counter(String name, String... labels) {
        return metrics.scrape().stream().filter(m -> m.getMetadata().getPrometheusName().equals(name))
                .flatMap(m -> m.getDataPoints().stream())
                .filter(d -> {
                    for (int i = 0; i < labels.length; i += 2) {
                        if (!labels[i + 1].equals(d.getLabels().get(labels[i]))) {
                            return false;
                        }
                    }
                    return true;
                })
                .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d)
                        .getValue())
                .sum();
    }

    static String alias(String ip) throws Exception {
        return XdsTypes.ipAlias("", InetAddress.getByName(ip));
    }

    /**
     * Starts the client (answers wait up to 20 s: longer than any test) and answers its first request (nothing
     * subscribed yet) and the Authorization wildcard, as a server would.
     */
    void answerStart() throws Exception {
        startClient("20s");
        ackFor(push(List.of(), List.of()));
        var s = stream.get();
        vertx.runOnContext(v -> s.write(DeltaDiscoveryResponse.newBuilder()
                .setTypeUrl(DeltaAdsClient.AUTHORIZATION_TYPE).setNonce("authz").build()));
        ackFor("authz");
    }

    @Test
    void theFirstAddressRequestAsksForNothingAndAuthorizationStaysWildcard() throws Exception {
        startClient("20s");
        DeltaDiscoveryRequest first = addressRequests().get(0);
        assertThat(first.getResourceNamesSubscribeList()).containsExactly("*");
        assertThat(first.getResourceNamesUnsubscribeList()).containsExactly("*");
        assertThat(first.getNode().getId()).startsWith("ztunnel~");
        await().until(() -> received.stream().anyMatch(r -> r.getTypeUrl().equals(DeltaAdsClient.AUTHORIZATION_TYPE)));
        DeltaDiscoveryRequest authz = received.stream()
                .filter(r -> r.getTypeUrl().equals(DeltaAdsClient.AUTHORIZATION_TYPE)).findFirst().orElseThrow();
        assertThat(authz.getResourceNamesSubscribeList()).isEmpty();
        assertThat(authz.getResourceNamesUnsubscribeList()).isEmpty();
        // ready once both types answered once, with nothing known
        assertThat(client.firstFullSync().isComplete()).isFalse();
        ackFor(push(List.of(), List.of()));
        assertThat(client.firstFullSync().isComplete()).isFalse();
        var s = stream.get();
        vertx.runOnContext(v -> s.write(DeltaDiscoveryResponse.newBuilder()
                .setTypeUrl(DeltaAdsClient.AUTHORIZATION_TYPE).setNonce("authz").build()));
        await().until(() -> client.firstFullSync().isComplete());
        assertThat(store.current().resources()).isEmpty();
    }

    @Test
    void aDemandSubscribesItsAliasAndCompletesOnceTheAnswerIsInTheStore() throws Exception {
        answerStart();
        String alias = alias("10.0.0.1");
        AtomicBoolean knownOnCompletion = new AtomicBoolean();
        InetAddress ip = ip("10.0.0.1");
        Future<Void> demand = store.demand(alias).onSuccess(v ->
                knownOnCompletion.set(store.current().workloadByIp(ip) != null));
        await().until(() -> subscriptionsOf(alias) == 1);
        DeltaDiscoveryRequest sub = addressRequests().stream()
                .filter(r -> r.getResourceNamesSubscribeList().contains(alias)).findFirst().orElseThrow();
        assertThat(sub.getResourceNamesSubscribeList()).containsExactly(alias);
        assertThat(sub.getResourceNamesUnsubscribeList()).isEmpty();
        assertThat(demand.isComplete()).isFalse();

        // the answer: the resource under its canonical name (the uid), the alias among its aliases
        ackFor(push(List.of(workload("uid-1", "10.0.0.1", "v1", alias)), List.of()));
        await().until(demand::isComplete);
        assertThat(demand.succeeded()).isTrue();
        assertThat(knownOnCompletion).isTrue();
        assertThat(demands("found")).isEqualTo(1);

        // later pushes for it apply as usual; asking again waits for nothing and sends nothing
        ackFor(push(List.of(workload("uid-1", "10.0.0.1", "v2")), List.of()));
        assertThat(client.versions().get(DeltaAdsClient.ADDRESS_TYPE)).containsEntry("uid-1", "v2");
        assertThat(store.demand(alias).isComplete()).isTrue();
        assertThat(subscriptionsOf(alias)).isEqualTo(1);
    }

    @Test
    void anAliasThatMatchesNothingIsAnsweredByItsRemovalNotByAnyResponse() throws Exception {
        answerStart();
        String alias = alias("10.0.0.9");
        Future<Void> demand = store.demand(alias);
        await().until(() -> subscriptionsOf(alias) == 1);
        // a push about something else crossing the subscription answers nothing (policy pushes changes any time)
        ackFor(push(List.of(workload("uid-x", "10.0.0.99", "v1")), List.of()));
        assertThat(demand.isComplete()).isFalse();
        ackFor(push(List.of(), List.of()));
        assertThat(demand.isComplete()).isFalse();
        // xDS "does not exist": the name among the removed resources (Istio's server and policy answer so)
        ackFor(push(List.of(), List.of(alias)));
        await().until(demand::isComplete);
        assertThat(demand.succeeded()).isTrue();
        assertThat(store.current().workloadByIp(ip("10.0.0.9"))).isNull();
        assertThat(demands("not_found")).isEqualTo(1);
        assertThat(demands("found")).isZero();
    }

    @Test
    void aWorkloadAskedForByUidIsAnsweredByTheResourceOfThatName() throws Exception {
        answerStart();
        // a name that is a resource's own (as a service's namespace/hostname is), not one of its aliases
        AtomicBoolean knownOnCompletion = new AtomicBoolean();
        Future<Void> demand = store.demand("uid-7").onSuccess(v ->
                knownOnCompletion.set(store.current().workloadByUid("uid-7") != null));
        await().until(() -> subscriptionsOf("uid-7") == 1);
        // a push of something else crossing the subscription answers nothing
        ackFor(push(List.of(workload("uid-x", "10.0.0.98", "v1")), List.of()));
        assertThat(demand.isComplete()).isFalse();
        // the answer: the resource by that name, no alias (policy lists none for a canonical name)
        ackFor(push(List.of(workload("uid-7", "10.0.0.7", "v1")), List.of()));
        await().until(demand::isComplete);
        assertThat(demand.succeeded()).isTrue();
        assertThat(knownOnCompletion).isTrue();
        assertThat(demands("found")).isEqualTo(1);
        assertThat(store.demand("uid-7").isComplete()).isTrue();
        assertThat(subscriptionsOf("uid-7")).isEqualTo(1);
    }

    @Test
    void aUidPolicyDoesNotKnowIsAnsweredByItsRemoval() throws Exception {
        answerStart();
        Future<Void> demand = store.demand("uid-8");
        await().until(() -> subscriptionsOf("uid-8") == 1);
        ackFor(push(List.of(), List.of("uid-8")));
        await().until(demand::isComplete);
        assertThat(demand.succeeded()).isTrue();
        assertThat(store.current().workloadByUid("uid-8")).isNull();
        assertThat(demands("not_found")).isEqualTo(1);
        assertThat(demands("found")).isZero();
    }

    /**
     * On demand, an Address response answers lookups, it is not the configuration to wait for (Istio's ztunnel does
     * not wait for on-demand types at all): policy's first answer counts even with a resource NACKed, or a ztunnel
     * with nothing else to ask for would never be ready.
     */
    @Test
    void onDemandTheFirstAddressAnswerCountsForReadinessEvenWithAResourceNacked() throws Exception {
        startClient("20s");
        Address bad = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("uid-32").setName("uid-32")
                .setNamespace("default").addAddresses(ByteString.copyFrom(new byte[5]))).build();
        String nonce = push(List.of(Resource.newBuilder().setName("uid-32").setVersion("v1").setResource(Any.pack(bad))
                .build()), List.of());
        ackFor(nonce);
        assertThat(received.stream().filter(r -> nonce.equals(r.getResponseNonce())).findFirst().orElseThrow()
                .hasErrorDetail()).isTrue();
        var s = stream.get();
        vertx.runOnContext(v -> s.write(DeltaDiscoveryResponse.newBuilder()
                .setTypeUrl(DeltaAdsClient.AUTHORIZATION_TYPE).setNonce("authz").build()));
        await().until(() -> client.firstFullSync().isComplete());
    }

    @Test
    void aResourceThatFailsValidationAnswersItsDemandAtOnceAsRejected() throws Exception {
        answerStart(); // answers wait up to 20 s: a demand that completes sooner was answered
        String alias = alias("10.0.3.1");
        Future<Void> demand = store.demand(alias);
        await().until(() -> subscriptionsOf(alias) == 1);
        // policy's answer names the alias, but the workload has 5 address bytes: NACKed, and nothing to wait for
        Address bad = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("uid-31").setName("uid-31")
                .setNamespace("default").addAddresses(ByteString.copyFrom(new byte[5]))).build();
        String nonce = push(List.of(Resource.newBuilder().setName("uid-31").setVersion("v1").setResource(Any.pack(bad))
                .addAliases(alias).build()), List.of());
        await().until(demand::isComplete);
        assertThat(demand.succeeded()).isTrue();
        assertThat(received.stream().filter(r -> nonce.equals(r.getResponseNonce())).findFirst().orElseThrow()
                .getErrorDetail().getMessage()).contains("uid-31", "addresses[0] has 5 bytes");
        assertThat(store.current().workloadByUid("uid-31")).isNull();
        assertThat(demands("rejected")).isEqualTo(1);
        assertThat(demands("found") + demands("not_found") + demands("timeout")).isZero();
        assertThat(client.onDemandState(10).listed()).containsEntry(alias, "rejected");
        assertThat(store.demand(alias).isComplete()).as("answered: not asked again").isTrue();

        // a valid version later is applied as any push, and the subscription shows it found
        ackFor(push(List.of(workload("uid-31", "10.0.3.1", "v2", alias)), List.of()));
        assertThat(store.current().workloadByUid("uid-31")).isNotNull();
        assertThat(client.onDemandState(10).listed()).containsEntry(alias, "found");
        assertThat(demands("found")).as("nobody waited: not counted again").isZero();
    }

    @Test
    void theStateListsEverySubscriptionWithItsAnswerBoundedAsAsked() throws Exception {
        answerStart();
        String found = alias("10.0.2.1");
        Future<Void> a = store.demand(found);
        Future<Void> b = store.demand("uid-gone");
        store.demand("uid-waiting");
        await().until(() -> subscriptionsOf(found) == 1 && subscriptionsOf("uid-gone") == 1
                && subscriptionsOf("uid-waiting") == 1);
        ackFor(push(List.of(workload("uid-21", "10.0.2.1", "v1", found)), List.of("uid-gone")));
        await().until(() -> a.isComplete() && b.isComplete());

        DeltaAdsClient.OnDemandState all = client.onDemandState(10);
        assertThat(all.subscribed()).isEqualTo(3);
        assertThat(all.limit()).isEqualTo(DeltaAdsClient.MAX_ALIASES);
        assertThat(all.listed()).containsExactly(Map.entry(found, "found"), Map.entry("uid-gone", "not_found"),
                Map.entry("uid-waiting", "pending"));
        assertThat(all.byState()).containsExactly(Map.entry("pending", 1), Map.entry("found", 1),
                Map.entry("not_found", 1), Map.entry("rejected", 0), Map.entry("timeout", 0));
        assertThat(all.omitted()).isZero();

        // bounded: what is still waiting first, then what was not found; the found one is only counted
        DeltaAdsClient.OnDemandState two = client.onDemandState(2);
        assertThat(two.subscribed()).isEqualTo(3);
        assertThat(two.listed()).containsExactly(Map.entry("uid-gone", "not_found"),
                Map.entry("uid-waiting", "pending"));
        assertThat(two.omitted()).isEqualTo(1);
        assertThat(two.byState()).isEqualTo(all.byState());
        assertThat(client.onDemandState(1).listed()).containsExactly(Map.entry("uid-waiting", "pending"));
        assertThat(client.onDemandState(0).listed()).isEmpty();
        assertThat(client.onDemandState(0).omitted()).isEqualTo(3);
    }

    @Test
    void pastTheAliasLimitAMissIsNotAskedButCountedAndGoesOnAsUnknown() throws Exception {
        answerStart();
        client.limitAliases(2);
        String first = alias("10.0.1.1");
        String second = alias("10.0.1.2");
        Future<Void> a = store.demand(first);
        Future<Void> b = store.demand(second);
        await().until(() -> subscriptionsOf(first) == 1 && subscriptionsOf(second) == 1);
        // a third address (an inbound CONNECT names any it likes): not subscribed, failed at once, counted
        String third = alias("10.0.1.3");
        Future<Void> c = store.demand(third);
        await().until(c::isComplete);
        assertThat(c.failed()).isTrue();
        assertThat(c.cause()).hasMessageContaining("2 aliases subscribed already");
        assertThat(demands("limit")).isEqualTo(1);
        assertThat(subscriptionsOf(third)).isZero();
        // those subscribed are still answered
        ackFor(push(List.of(), List.of(first, second)));
        await().until(() -> a.isComplete() && b.isComplete());
        assertThat(demands("not_found")).isEqualTo(2);
    }

    @Test
    void concurrentDemandsForOneAliasShareOneRequest() throws Exception {
        answerStart();
        String alias = alias("10.0.0.2");
        // from two event loops and from this thread
        java.util.concurrent.CompletableFuture<Future<Void>> onLoop1 = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CompletableFuture<Future<Void>> onLoop2 = new java.util.concurrent.CompletableFuture<>();
        vertx.getOrCreateContext().runOnContext(v -> onLoop1.complete(store.demand(alias)));
        vertx.getOrCreateContext().runOnContext(v -> onLoop2.complete(store.demand(alias)));
        Future<Void> here = store.demand(alias);
        Future<Void> a = onLoop1.get(5, TimeUnit.SECONDS);
        Future<Void> b = onLoop2.get(5, TimeUnit.SECONDS);
        await().until(() -> subscriptionsOf(alias) >= 1);
        assertThat(a.isComplete() || b.isComplete() || here.isComplete()).isFalse();
        ackFor(push(List.of(workload("uid-2", "10.0.0.2", "v1", alias)), List.of()));
        await().until(() -> a.isComplete() && b.isComplete() && here.isComplete());
        assertThat(a.succeeded() && b.succeeded() && here.succeeded()).isTrue();
        assertThat(subscriptionsOf(alias)).isEqualTo(1);
        assertThat(demands("found")).isEqualTo(1);
    }

    @Test
    void anUnansweredDemandGivesUpAndALateAnswerStillApplies() throws Exception {
        startClient("300ms");
        ackFor(push(List.of(), List.of()));
        String alias = alias("10.0.0.3");
        Future<Void> demand = store.demand(alias);
        await().until(demand::isComplete); // discovery.onDemandTimeout without an answer
        assertThat(demand.failed()).isTrue();
        assertThat(demand.cause()).isInstanceOf(TimeoutException.class).hasMessageContaining(alias);
        assertThat(demands("timeout")).isEqualTo(1);
        assertThat(subscriptionsOf(alias)).isEqualTo(1);
        assertThat(client.onDemandState(10).listed()).containsExactly(Map.entry(alias, "timeout"));

        // the subscription stands: the late answer applies, and asking again then waits for nothing
        ackFor(push(List.of(workload("uid-3", "10.0.0.3", "v1", alias)), List.of()));
        assertThat(store.current().workloadByIp(ip("10.0.0.3"))).isNotNull();
        Future<Void> again = store.demand(alias);
        assertThat(again.succeeded()).isTrue();
        assertThat(subscriptionsOf(alias)).isEqualTo(1);
        assertThat(client.onDemandState(10).listed()).containsExactly(Map.entry(alias, "found"));
    }

    @Test
    void aReconnectSubscribesEveryAliasAgainWithTheHeldVersions() throws Exception {
        answerStart();
        String found = alias("10.0.0.4");
        String missing = alias("10.0.0.5");
        Future<Void> first = store.demand(found);
        await().until(() -> subscriptionsOf(found) == 1);
        ackFor(push(List.of(workload("uid-4", "10.0.0.4", "v4", found)), List.of()));
        await().until(first::isComplete);

        // one more, left unanswered when the stream ends
        Future<Void> pending = store.demand(missing);
        await().until(() -> subscriptionsOf(missing) == 1);
        received.clear();
        var s = stream.get();
        vertx.runOnContext(v -> s.status(GrpcStatus.UNAVAILABLE).end());
        await().atMost(Duration.ofSeconds(10)).until(() -> streams.get() >= 2 && !addressRequests().isEmpty());
        DeltaDiscoveryRequest resubscribe = addressRequests().get(0);
        assertThat(resubscribe.getResourceNamesSubscribeList()).containsExactlyInAnyOrder("*", found, missing);
        assertThat(resubscribe.getResourceNamesUnsubscribeList()).containsExactly("*");
        assertThat(resubscribe.getInitialResourceVersionsMap()).containsExactlyEntriesOf(Map.of("uid-4", "v4"));
        // the unanswered alias is answered on the new stream
        assertThat(pending.isComplete()).isFalse();
        ackFor(push(List.of(), List.of(missing)));
        await().until(pending::isComplete);
        assertThat(pending.succeeded()).isTrue();
        assertThat(addressRequests()).hasSize(1);
        assertThat(store.current().workloadByIp(ip("10.0.0.4"))).isNotNull(); // kept through the outage
    }

    static InetAddress ip(String s) {
        return io.jmesh.core.net.IpLiteral.parse(s);
    }
}
