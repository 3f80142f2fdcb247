package io.jmesh.policy.xds;

import static io.jmesh.policy.testing.DeltaAdsTestClient.ADDRESS;
import static io.jmesh.policy.testing.DeltaAdsTestClient.AUTHORIZATION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.DeltaAdsTestClient;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every ztunnel of a cluster reconnecting at once (a policy restart) is admitted a bounded number at a time, over
 * the real server (gRPC over TLS, reviewed tokens): streams beyond the rate are refused {@code RESOURCE_EXHAUSTED}
 * (ztunnel backs off and keeps its configuration) before their token is reviewed, streams beyond those still in
 * their initial sync once it is (unless their node holds a place: its reconnect takes it over), both before their
 * first request is read, and counted; every one syncs once it is its turn.
 */
@Timeout(120)
class AdmissionOverGrpcTest {

    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;
    Vertx vertx;
    TestPki pki;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    final List<DeltaAdsTestClient> clients = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki);
        for (int i = 0; i < 8; i++) {
            tokenReview.nodeToken("token-" + i, "node-" + i);
        }
        // one address per response: a snapshot takes several round trips, each after the previous ACK
        policy = new AdsServerHarness(vertx, pki, tokenReview, 1);
        policy.apply(new ManifestReader("istio-system").read(OnDemandAdsTest.MESH).stream()
                .map(ParsedObject::record).toList());
    }

    @AfterEach
    void tearDown() throws Exception {
        clients.forEach(DeltaAdsTestClient::close);
        policy.close();
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    DeltaAdsTestClient client(int node) {
        DeltaAdsTestClient c = new DeltaAdsTestClient(vertx, pki, policy.port(), "token-" + node, "node-" + node);
        clients.add(c);
        return c;
    }

    boolean synced(DeltaAdsTestClient c) {
        return c.names(ADDRESS).equals(policy.state().addresses().keySet())
                && !c.responsesOf(AUTHORIZATION).isEmpty();
    }

    int reviews() {
        return tokenReview.callerCredentials().size();
    }

    @Test
    void streamsBeyondThoseInTheirInitialSyncAreRefusedAfterTheirReviewAndAllSyncOnceThoseAreThrough() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 2)).start(0);
        assertThat(policy.state().addresses()).hasSizeGreaterThan(2);
        // two ztunnels still applying their snapshot (no ACK yet): in their initial sync
        DeltaAdsTestClient a = client(0).withholdingAcks().connect();
        DeltaAdsTestClient b = client(1).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !a.responsesOf(ADDRESS).isEmpty() && !b.responsesOf(ADDRESS).isEmpty());
        assertThat(policy.gauge("policy_xds_streams_syncing")).isEqualTo(2);
        int reviewed = reviews();

        DeltaAdsTestClient refused = client(2).connect();
        assertThat(refused.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.RESOURCE_EXHAUSTED);
        assertThat(refused.responses).isEmpty();
        // reviewed (its node might have held a place), holding nothing
        assertThat(reviews()).as("token reviews").isEqualTo(reviewed + 1);
        assertThat(policy.gauge("policy_xds_streams_syncing")).isEqualTo(2);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "syncing_limit")).isEqualTo(1);
        assertThat(policy.streams()).isEqualTo(2);

        // a is through its snapshot: its place is free, the refused ztunnel's retry is served
        a.sendAcks();
        await().atMost(WAIT).until(() -> synced(a) && policy.gauge("policy_xds_streams_syncing") == 1);
        DeltaAdsTestClient retried = client(2).holding(refused).connect();
        b.sendAcks();
        await().atMost(WAIT).until(() -> synced(retried) && synced(b));
        await().atMost(WAIT).until(() -> policy.gauge("policy_xds_streams_syncing") == 0);
        assertThat(policy.streams()).isEqualTo(3);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "syncing_limit")).isEqualTo(1);
    }

    /**
     * One node holds one initial-sync place at most: its newer stream ends its older one still syncing (a ztunnel
     * has one stream; an older one still open is one it gave up on, or a node opening many to starve the others).
     */
    @Test
    void aNodesNewerStreamEndsItsOlderOneStillInItsInitialSync() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 2)).start(0);
        DeltaAdsTestClient older = client(0).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !older.responsesOf(ADDRESS).isEmpty());
        DeltaAdsTestClient newer = client(0).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !newer.responsesOf(ADDRESS).isEmpty());

        await().atMost(Duration.ofSeconds(20)).alias("the older stream of node-0 ended").until(older.ended::isDone);
        assertThat(older.ended.get()).isEqualTo(GrpcStatus.ABORTED);
        assertThat(older.endedMessage).isEqualTo("replaced by a newer discovery stream of node 'node-0' while in its"
                + " initial sync");
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "superseded")).isEqualTo(1);
        await().atMost(WAIT).until(() -> policy.gauge("policy_xds_streams_syncing") == 1 && policy.streams() == 1);

        // the place node-0 held twice serves another node
        DeltaAdsTestClient other = client(1).connect();
        await().atMost(WAIT).until(() -> synced(other));
        newer.sendAcks();
        await().atMost(WAIT).until(() -> synced(newer) && policy.gauge("policy_xds_streams_syncing") == 0);
        assertThat(newer.ended).isNotDone();
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "syncing_limit")).isZero();
    }

    /**
     * A ztunnel whose stream went half-open in its initial sync reconnects while every place is taken, its old
     * stream's among them: the reconnect takes its node's place over (the old stream ends, superseded) rather than
     * being refused until the old one's PINGs go unanswered. The place passes: never more than maxSyncing, never
     * counted twice, freed once; another node is still refused.
     */
    @Test
    void aReconnectTakesItsNodesOwnPlaceOverWhenEveryPlaceIsTaken() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 2)).start(0);
        DeltaAdsTestClient halfOpen = client(0).withholdingAcks().connect();
        DeltaAdsTestClient other = client(1).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !halfOpen.responsesOf(ADDRESS).isEmpty()
                && !other.responsesOf(ADDRESS).isEmpty());
        assertThat(policy.gauge("policy_xds_streams_syncing")).isEqualTo(2);

        DeltaAdsTestClient reconnected = client(0).holding(halfOpen).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !reconnected.responsesOf(ADDRESS).isEmpty() || reconnected.ended.isDone());
        assertThat(outcome(reconnected)).as("node-0's reconnect while every place is taken, one by node-0")
                .isEqualTo("served");
        assertThat(halfOpen.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.ABORTED);
        assertThat(halfOpen.endedMessage).isEqualTo("replaced by a newer discovery stream of node 'node-0' while in"
                + " its initial sync");
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "superseded")).isEqualTo(1);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "syncing_limit")).isZero();
        // the old stream ended (before its status was sent): it freed nothing, the reconnect holds its place
        assertThat(policy.gauge("policy_xds_streams_syncing")).as("places held").isEqualTo(2);
        assertThat(policy.streams()).isEqualTo(2);

        // another node is still refused: every place is held
        DeltaAdsTestClient refused = client(2).connect();
        assertThat(refused.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.RESOURCE_EXHAUSTED);
        assertThat(refused.endedMessage).isEqualTo("too many streams in their initial sync (2), retry later");
        assertThat(refused.responses).isEmpty();
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "syncing_limit")).isEqualTo(1);
        assertThat(policy.gauge("policy_xds_streams_syncing")).as("places held").isEqualTo(2);

        // the place taken over is freed once, when the reconnect is through
        reconnected.sendAcks();
        await().atMost(WAIT).until(() -> synced(reconnected) && policy.gauge("policy_xds_streams_syncing") == 1);
        DeltaAdsTestClient retried = client(2).holding(refused).connect();
        await().atMost(WAIT).until(() -> synced(retried));
        other.sendAcks();
        await().atMost(WAIT).until(() -> synced(other) && policy.gauge("policy_xds_streams_syncing") == 0);
        assertThat(policy.streams()).isEqualTo(3);
        assertThat(reconnected.ended).isNotDone();
    }

    /**
     * With one place, held by a node reconnecting again and again (each reconnect over a half-open connection): each
     * reconnect takes the place over from the one before, which ends; the place is held once throughout and freed
     * once, and another node's stream is refused until then.
     */
    @Test
    void reconnectsInARowPassTheOnePlaceOnWithoutFreeingItTwice() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 1)).start(0);
        DeltaAdsTestClient first = client(0).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !first.responsesOf(ADDRESS).isEmpty());
        DeltaAdsTestClient previous = first;
        for (int i = 1; i <= 3; i++) {
            DeltaAdsTestClient stalled = previous;
            DeltaAdsTestClient reconnected = client(0).holding(stalled).withholdingAcks().connect();
            await().atMost(WAIT).until(() -> !reconnected.responsesOf(ADDRESS).isEmpty()
                    || reconnected.ended.isDone());
            assertThat(outcome(reconnected)).as("node-0's reconnect #" + i).isEqualTo("served");
            assertThat(stalled.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.ABORTED);
            assertThat(policy.gauge("policy_xds_streams_syncing")).as("places held").isEqualTo(1);
            assertThat(policy.streams()).isEqualTo(1);
            previous = reconnected;
        }
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "superseded")).isEqualTo(3);

        DeltaAdsTestClient refused = client(1).connect();
        assertThat(refused.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.RESOURCE_EXHAUSTED);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "syncing_limit")).isEqualTo(1);

        DeltaAdsTestClient last = previous;
        last.sendAcks();
        await().atMost(WAIT).until(() -> synced(last) && policy.gauge("policy_xds_streams_syncing") == 0);
        DeltaAdsTestClient retried = client(1).holding(refused).connect();
        await().atMost(WAIT).until(() -> synced(retried) && policy.gauge("policy_xds_streams_syncing") == 0);
        assertThat(policy.streams()).isEqualTo(2);
    }

    /** "served" while the stream is open, else how it ended. */
    static String outcome(DeltaAdsTestClient c) throws Exception {
        return c.ended.isDone() ? c.ended.get().name() + " " + c.endedMessage : "served";
    }

    /** Once through its initial sync a node's stream holds no place: a newer one of the node leaves it alone. */
    @Test
    void aNodesStreamThroughItsInitialSyncIsNotEndedByANewerOne() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 2)).start(0);
        DeltaAdsTestClient first = client(0).connect();
        await().atMost(WAIT).until(() -> synced(first) && policy.gauge("policy_xds_streams_syncing") == 0);
        DeltaAdsTestClient second = client(0).connect();
        await().atMost(WAIT).until(() -> synced(second) && policy.gauge("policy_xds_streams_syncing") == 0);
        assertThat(first.ended).isNotDone();
        assertThat(policy.streams()).isEqualTo(2);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "superseded")).isZero();
    }

    @Test
    void streamsBeyondTheRateThatWouldWaitTooLongAreRefusedUnreviewed() throws Exception {
        // one new stream per 100 s: the first starts, the others would wait far longer than a second
        policy.admitting(() -> new StreamAdmission(0.01, 100)).start(0);
        DeltaAdsTestClient first = client(0).connect();
        await().atMost(WAIT).until(() -> synced(first));
        List<DeltaAdsTestClient> others = List.of(client(1).connect(), client(2).connect(), client(3).connect());
        for (DeltaAdsTestClient c : others) {
            assertThat(c.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.RESOURCE_EXHAUSTED);
            assertThat(c.responses).isEmpty();
        }
        assertThat(reviews()).as("token reviews").isEqualTo(1);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "rate_limited")).isEqualTo(3);
        assertThat(policy.streams()).isEqualTo(1);
        assertThat(policy.gauge("policy_xds_streams_waiting")).isZero();
    }

    @Test
    void aStreamWaitingForItsTurnIsServedWhenItComes() throws Exception {
        // one new stream per second: the second, arriving within a second of the first, waits for its turn
        policy.admitting(() -> new StreamAdmission(1, 100)).start(0);
        DeltaAdsTestClient a = client(0).connect();
        DeltaAdsTestClient b = client(1).connect();
        await().atMost(WAIT).until(() -> synced(a) && synced(b));
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "rate_limited")).isZero();
        assertThat(policy.gauge("policy_xds_streams_waiting")).isZero();
    }

    @Test
    void aStreamCancelledWhileWaitingForItsTurnIsDroppedAtOnceAndNeverReviewed() throws Exception {
        // one new stream per 100 s, a wait of up to 1000 s allowed: the second waits (for a long time)
        policy.admitting(() -> new StreamAdmission(0.01, 100, Duration.ofSeconds(1000), Duration.ofMinutes(1), System::nanoTime)).start(0);
        DeltaAdsTestClient first = client(0).connect();
        await().atMost(WAIT).until(() -> synced(first));
        DeltaAdsTestClient waiting = client(1).connect();
        await().atMost(WAIT).until(() -> policy.gauge("policy_xds_streams_waiting") == 1);
        waiting.cancel();
        await().atMost(WAIT).until(() -> policy.gauge("policy_xds_streams_waiting") == 0);
        assertThat(reviews()).as("token reviews").isEqualTo(1);
        assertThat(policy.streams()).isEqualTo(1);
        assertThat(policy.gauge("policy_xds_streams_syncing")).isZero();
    }

    @Test
    void aStreamStalledInItsInitialSyncGivesItsPlaceUpSoOthersAreServed() throws Exception {
        // one place, kept at most 1 s
        policy.admitting(() -> new StreamAdmission(1e9, 1, Duration.ofSeconds(1))).start(0);
        DeltaAdsTestClient stalled = client(0).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !stalled.responsesOf(ADDRESS).isEmpty());
        // another ztunnel retries as ztunnel does, backing off (bounded attempts)
        DeltaAdsTestClient served = null;
        for (int attempt = 0; attempt < 40 && served == null; attempt++) {
            DeltaAdsTestClient c = client(1).connect();
            await().atMost(WAIT).until(() -> c.ended.isDone() || synced(c));
            if (synced(c)) {
                served = c;
            } else {
                assertThat(c.ended.get()).isEqualTo(GrpcStatus.RESOURCE_EXHAUSTED);
                Thread.sleep(250);
            }
        }
        assertThat(served).as("a ztunnel served while another stalls in its initial sync").isNotNull();
        assertThat(policy.counter("policy_xds_initial_sync_timeouts")).isEqualTo(1);
        assertThat(policy.streams()).as("the stalled stream goes on").isEqualTo(2);
        stalled.sendAcks();
        await().atMost(WAIT).until(() -> synced(stalled));
        await().atMost(WAIT).until(() -> policy.gauge("policy_xds_streams_syncing") == 0);
    }

    /**
     * A node holds a bounded number of streams (each keeps its subscriptions and what was sent): its newest ends its
     * oldest beyond the bound, so a node never holds more, and a ztunnel reconnecting while its dead streams are not
     * noticed yet is still served.
     */
    @Test
    void aNodesNewestStreamBeyondTheBoundEndsItsOldest() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 16)).start(0); // the default bound per node: 4
        List<DeltaAdsTestClient> node0 = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            DeltaAdsTestClient c = client(0).connect();
            node0.add(c);
            await().atMost(WAIT).until(() -> synced(c));
        }
        DeltaAdsTestClient fifth = client(0).connect();
        await().atMost(WAIT).until(() -> synced(fifth) || fifth.ended.isDone());
        assertThat(fifth.ended).as("the node's newest stream is served").isNotDone();

        await().atMost(Duration.ofSeconds(20)).alias("node-0's oldest stream ended").until(node0.get(0).ended::isDone);
        assertThat(node0.get(0).ended.get()).isEqualTo(GrpcStatus.ABORTED);
        assertThat(node0.get(0).endedMessage).isEqualTo("replaced by a newer discovery stream of node 'node-0':"
                + " a node holds at most 4 streams");
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "node_streams_limit")).isEqualTo(1);
        await().atMost(WAIT).until(() -> policy.streams() == 4);
        for (DeltaAdsTestClient c : node0.subList(1, 4)) {
            assertThat(c.ended).isNotDone();
        }
    }

    /** With one stream per node, a ztunnel reconnecting while its old stream is not noticed gone is still served. */
    @Test
    void aReconnectIsServedEvenWhenItsNodeHoldsTheMostStreams() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 16, Duration.ofMinutes(1), 1)).start(0);
        DeltaAdsTestClient old = client(0).connect();
        await().atMost(WAIT).until(() -> synced(old));
        DeltaAdsTestClient reconnected = client(0).holding(old).connect();
        assertThat(old.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.ABORTED);
        assertThat(old.endedMessage).isEqualTo("replaced by a newer discovery stream of node 'node-0': a node holds"
                + " at most 1 streams");
        await().atMost(WAIT).until(() -> synced(reconnected) && policy.streams() == 1);
        assertThat(reconnected.ended).isNotDone();
    }

    /**
     * A stream whose token is being reviewed is nobody yet: it holds no initial-sync place, so clients whose tokens
     * are slow to review (or that never authenticate) cannot take every place and lock the nodes' reconnects out.
     */
    @Test
    void aStreamInItsTokenReviewHoldsNoInitialSyncPlace() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 1)).start(0);
        tokenReview.slowToReview("slow-token");
        DeltaAdsTestClient unreviewed = new DeltaAdsTestClient(vertx, pki, policy.port(), "slow-token", "node-x");
        clients.add(unreviewed);
        unreviewed.connect();
        await().atMost(WAIT).until(() -> tokenReview.heldReviews() == 1);
        assertThat(policy.gauge("policy_xds_streams_reviewing")).isEqualTo(1);
        assertThat(policy.gauge("policy_xds_streams_syncing")).isZero();

        DeltaAdsTestClient node = client(0).connect();
        await().atMost(WAIT).until(() -> synced(node) || node.ended.isDone());
        assertThat(node.ended).as("a node's stream while another's token is reviewed").isNotDone();

        tokenReview.release();
        assertThat(unreviewed.ended.get(60, TimeUnit.SECONDS)).isEqualTo(GrpcStatus.UNAUTHENTICATED);
        assertThat(policy.gauge("policy_xds_streams_reviewing")).isZero();
        await().atMost(WAIT).until(() -> policy.gauge("policy_xds_streams_syncing") == 0);
        assertThat(policy.streams()).isEqualTo(1);
    }

    /**
     * A stream out of time in its initial sync gave its place up but still keeps what its ztunnel announced it holds
     * (up to the largest request): its node's newer stream ends it, as one still holding its place.
     */
    @Test
    void aStreamOutOfTimeInItsInitialSyncIsEndedByItsNodesNewerStream() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 2, Duration.ofSeconds(1))).start(0);
        DeltaAdsTestClient stalled = client(0).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> policy.counter("policy_xds_initial_sync_timeouts") == 1);
        assertThat(policy.gauge("policy_xds_streams_syncing")).isZero();

        DeltaAdsTestClient reconnected = client(0).holding(stalled).connect();
        await().atMost(WAIT).until(() -> synced(reconnected));
        await().atMost(Duration.ofSeconds(20)).alias("the stalled stream of node-0 ended").until(stalled.ended::isDone);
        assertThat(stalled.ended.get()).isEqualTo(GrpcStatus.ABORTED);
        assertThat(policy.counter("policy_xds_streams_refused", "reason", "superseded")).isEqualTo(1);
        await().atMost(WAIT).until(() -> policy.streams() == 1);
    }

    /**
     * A reconnecting ztunnel writes its first request (everything it holds, megabytes) right after opening the
     * stream, before any answer: a refused stream's is not read. The status still reaches the client.
     */
    @Test
    void aRefusedStreamsFirstRequestIsNotRead() throws Exception {
        policy.admitting(() -> new StreamAdmission(1e9, 1)).start(0);
        DeltaAdsTestClient holder = client(0).withholdingAcks().connect();
        await().atMost(WAIT).until(() -> !holder.responsesOf(ADDRESS).isEmpty());

        GrpcClient raw = GrpcClient.client(vertx, GrpcTls.client(pki.roots));
        try {
            GrpcClientRequest<Buffer, Buffer> call = raw.request(SocketAddress.inetSocketAddress(policy.port(),
                    "127.0.0.1")).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            call.fullMethodName(BadStreamsOverGrpcTest.METHOD);
            call.headers().set("authorization", "Bearer token-1");
            DeltaDiscoveryRequest.Builder reconnect = DeltaDiscoveryRequest.newBuilder().setTypeUrl(ADDRESS);
            for (int i = 0; i < 200_000; i++) {
                reconnect.putInitialResourceVersions("Kubernetes//Pod/shop/workload-" + i, "v" + i);
            }
            Buffer request = Buffer.buffer(reconnect.build().toByteArray());
            assertThat(request.length()).isGreaterThan(8_000_000);
            CompletableFuture<String> ended = new CompletableFuture<>();
            call.response().onComplete(ar -> {
                if (ar.failed()) {
                    ended.complete("failed: " + ar.cause());
                    return;
                }
                ar.result().handler(b -> { });
                ar.result().exceptionHandler(e -> ended.complete("failed: " + e));
                ar.result().endHandler(v -> ended.complete(ar.result().status().name() + " "
                        + ar.result().statusMessage()));
            });
            CompletableFuture<Boolean> taken = new CompletableFuture<>();
            call.write(request).onComplete(ar -> taken.complete(ar.succeeded()));

            assertThat(ended.get(60, TimeUnit.SECONDS))
                    .isEqualTo("RESOURCE_EXHAUSTED too many streams in their initial sync (1), retry later");
            assertThat(taken.get(60, TimeUnit.SECONDS)).as("the server took the refused stream's request").isFalse();
        } finally {
            raw.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
