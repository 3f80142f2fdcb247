package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.Resource;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.policy.testing.AdsServerHarness;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.testing.mesh.SyntheticMesh;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.IndexedAuthorizer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The real ztunnel delta ADS client against policy's real delta ADS server (gRPC over TLS, the node's token
 * reviewed) at the scale of the policy benchmark: 50,000 workloads, 5,000 services, 2,000 policies. The client
 * takes the whole snapshot, keeps serving it while its replica is down and the configuration changes, then
 * reconnects to the restarted replica announcing everything it holds, and receives only what changed.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DeltaAdsClientAgainstPolicyTest {

    private static final Logger log = LoggerFactory.getLogger(DeltaAdsClientAgainstPolicyTest.class);

    /** node-0 runs the workloads of every tenth app: 5,000 workloads, 400 of the 2,000 policies select them. */
    static final SyntheticMesh MESH = new SyntheticMesh(50_000, 5_000, 2_000, 10, 100);
    static final String NODE = "node-0";
    static final String TOKEN = "token-node-0";
    static final Duration SYNC = Duration.ofSeconds(90);

    @TempDir
    Path dir;
    Vertx policyVertx;
    Vertx ztunnelVertx;
    FakeTokenReview tokenReview;
    AdsServerHarness policy;
    DeltaAdsClient client;
    WorkloadStore store;
    RetainedPolicies policies;
    IndexedAuthorizer enforced;
    PrometheusRegistry clientMetrics;
    int port;

    @BeforeEach
    void setUp() throws Exception {
        // two Vert.x instances: the replica and the ztunnel share no event loop, as in two processes
        policyVertx = Vertx.vertx();
        ztunnelVertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(policyVertx, pki).nodeToken(TOKEN, NODE);
        policy = new AdsServerHarness(policyVertx, pki, tokenReview, 2000);
        policy.apply(MESH.records());
        assertThat(policy.skipped()).isEmpty();
        port = policy.start(0);

        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of(
                "MESH_NODE_NAME", NODE, "MESH_DISCOVERY_INITIAL_BACKOFF", "50ms",
                "MESH_DISCOVERY_MAX_BACKOFF", "500ms")).config();
        store = new WorkloadStore();
        policies = new RetainedPolicies();
        clientMetrics = new PrometheusRegistry();
        // as ZtunnelBootstrap wires it: every push compiled into the enforcing index and kept for /config_dump
        enforced = new IndexedAuthorizer(clientMetrics);
        client = new DeltaAdsClient(ztunnelVertx, DeltaAdsClient.grpcClient(ztunnelVertx, pki.rootPem.toString()),
                SocketAddress.inetSocketAddress(port, "127.0.0.1"), () -> TOKEN, config, store,
                new TeePolicies(enforced, policies), clientMetrics);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.stop();
        }
        if (policy != null) {
            policy.close();
        }
        if (tokenReview != null) {
            tokenReview.close();
        }
        for (Vertx v : new Vertx[] {ztunnelVertx, policyVertx}) {
            if (v != null) {
                v.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void reconnectingToARestartedReplicaReceivesOnlyTheChangesMadeWhileItWasDown() throws Exception {
        MeshState before = policy.state();
        Map<String, String> addressesBefore = versions(before.addresses());
        Map<String, String> policiesBefore = versions(before.resourcesFor(TypeUrls.AUTHORIZATION, NODE));
        assertThat(addressesBefore).hasSize(55_000);
        assertThat(policiesBefore).hasSize(400);

        // 1. the whole snapshot, in parts of at most ~200 KiB, each after the previous ACK
        long t0 = System.nanoTime();
        // what the client holds at the moment it declares its first configuration complete (readiness)
        var heldWhenComplete = new java.util.concurrent.CompletableFuture<Integer>();
        client.firstFullSync().onSuccess(v -> heldWhenComplete.complete(
                client.versions().get(DeltaAdsClient.ADDRESS_TYPE).size()));
        client.start();
        await().atMost(SYNC).until(() -> client.versions().get(DeltaAdsClient.ADDRESS_TYPE).size() == 55_000
                && client.versions().get(DeltaAdsClient.AUTHORIZATION_TYPE).size() == 400 && settled());
        long syncMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(client.firstFullSync().isComplete()).isTrue();
        assertThat(heldWhenComplete.get(5, TimeUnit.SECONDS)).as("complete only with the snapshot's last part")
                .isEqualTo(55_000);
        assertHolds(before);
        assertThat(policy.subscriptions()).extracting(AdsServerHarness.Subscription::initialResourceVersions)
                .containsExactly(Map.of(), Map.of());
        double initialResources = sent(TypeUrls.ADDRESS, "update") + sent(TypeUrls.AUTHORIZATION, "update");
        double initialResponses = policy.counter("policy_xds_responses");
        assertThat(initialResources).isEqualTo(55_400);
        assertThat(initialResponses).isGreaterThan(2); // split: 55,000 addresses do not fit one response
        assertThat(policy.counter("policy_xds_nacks")).isZero();
        // Istio's xDS message metrics: every response counted, with its bytes (55,000 addresses: megabytes)
        assertThat(clientCounter("istio_xds_message")).isEqualTo(initialResponses);
        assertThat(clientCounter("istio_xds_message_bytes")).isGreaterThan(1_000_000);

        // 2. the replica goes away; the client keeps serving what it holds while it retries
        WorkloadIndex synced = store.current();
        List<Authorization> syncedPolicies = List.copyOf(policies.all());
        policy.stop();
        await().atMost(SYNC).until(() -> terminations() >= 3); // the stream, then at least two refused connects
        assertThat(store.current()).isSameAs(synced);
        assertThat(store.current().workloadByIp(InetAddress.getByName("10.1.0.10")).getUid())
                .isEqualTo(MESH.workloadUid(10));
        assertThat(store.current().serviceByHostname("svc-7.ns-7.svc.cluster.local")).isNotNull();

        // 3. meanwhile the configuration changes: additions, modifications and removals of both types
        List<ConfigRecord> changed = new ArrayList<>();
        for (int i = 50_000; i < 50_003; i++) {
            changed.add(MESH.workload(i, "node-" + (i % 10))); // new workloads (apps 0, 1, 2)
        }
        changed.add(MESH.workload(20, "node-3")); // moved away from node-0
        changed.add(MESH.workload(32, "node-0")); // moved onto node-0: ap-16 (selecting app-32) now applies here
        changed.add(MESH.service(7, 8080)); // a port changes: the service and its 10 endpoints change
        changed.add(MESH.policy("ap-new", 40, 1)); // a new policy for app-40 (node-0)
        changed.add(MESH.policy("ap-0", 0, 999)); // an existing policy of node-0 allows someone else
        policy.apply(changed);
        MeshState after = policy.delete(List.of(new ConfigKey("WorkloadEntry", MESH.ns(42), "wl-42"),
                new ConfigKey("WorkloadEntry", MESH.ns(43), "wl-43"), new ConfigKey("Service", MESH.ns(9), "svc-9"),
                new ConfigKey("AuthorizationPolicy", MESH.ns(10), "ap-5"))); // ap-5 selects app-10 (node-0)
        assertThat(policy.skipped()).isEmpty();
        Diff addressDiff = Diff.of(addressesBefore, versions(after.addresses()));
        Diff policyDiff = Diff.of(policiesBefore, versions(after.resourcesFor(TypeUrls.AUTHORIZATION, NODE)));
        assertThat(addressDiff.removed()).containsExactlyInAnyOrder(MESH.workloadUid(42), MESH.workloadUid(43),
                MESH.serviceName(9, "cluster.local"));
        assertThat(addressDiff.updated()).contains(MESH.workloadUid(50_000), MESH.workloadUid(20),
                MESH.serviceName(7, "cluster.local"));
        assertThat(policyDiff.removed()).containsExactly(MESH.ns(10) + "/ap-5");
        assertThat(policyDiff.updated()).containsExactlyInAnyOrder(MESH.ns(40) + "/ap-new", MESH.ns(0) + "/ap-0",
                MESH.ns(32) + "/ap-16");
        // still the last good configuration, untouched
        assertThat(store.current()).isSameAs(synced);
        assertThat(policies.all()).containsExactlyElementsOf(syncedPolicies);
        assertThat(enforced.size()).isEqualTo(400);

        // 4. the replica is back on the same address; the client resumes
        int subscriptionsBefore = policy.subscriptions().size();
        long t1 = System.nanoTime();
        assertThat(policy.start(port)).isEqualTo(port);
        Map<String, String> addressesAfter = versions(after.addresses());
        Map<String, String> policiesAfter = versions(after.resourcesFor(TypeUrls.AUTHORIZATION, NODE));
        await().atMost(SYNC).until(() -> settled()
                && addressesAfter.equals(client.versions().get(DeltaAdsClient.ADDRESS_TYPE))
                && policiesAfter.equals(client.versions().get(DeltaAdsClient.AUTHORIZATION_TYPE)));
        long resumeMs = (System.nanoTime() - t1) / 1_000_000;

        // the resubscription announced every held resource with its version
        List<AdsServerHarness.Subscription> resumed = policy.subscriptions().subList(subscriptionsBefore,
                policy.subscriptions().size());
        assertThat(resumed).extracting(AdsServerHarness.Subscription::typeUrl)
                .containsExactlyInAnyOrder(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION);
        for (AdsServerHarness.Subscription s : resumed) {
            assertThat(s.node()).isEqualTo(NODE);
            assertThat(new TreeMap<>(s.initialResourceVersions()))
                    .isEqualTo(s.typeUrl().equals(TypeUrls.ADDRESS) ? addressesBefore : policiesBefore);
        }
        // only the differences were sent, each once
        assertThat(sent(TypeUrls.ADDRESS, "update")).isEqualTo(addressDiff.updated().size());
        assertThat(sent(TypeUrls.ADDRESS, "remove")).isEqualTo(addressDiff.removed().size());
        assertThat(sent(TypeUrls.AUTHORIZATION, "update")).isEqualTo(policyDiff.updated().size());
        assertThat(sent(TypeUrls.AUTHORIZATION, "remove")).isEqualTo(policyDiff.removed().size());
        assertThat(policy.counter("policy_xds_nacks")).isZero();
        assertThat(policy.streams()).isEqualTo(1);
        assertHolds(after);

        log.atInfo().addKeyValue("addresses", addressesBefore.size()).addKeyValue("policies", policiesBefore.size())
                .addKeyValue("initialResources", (long) initialResources)
                .addKeyValue("initialResponses", (long) initialResponses).addKeyValue("initialSyncMs", syncMs)
                .addKeyValue("addressUpdates", addressDiff.updated().size())
                .addKeyValue("addressRemovals", addressDiff.removed().size())
                .addKeyValue("policyUpdates", policyDiff.updated().size())
                .addKeyValue("policyRemovals", policyDiff.removed().size())
                .addKeyValue("resumeRequestBytes", DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                        .putAllInitialResourceVersions(addressesBefore).build().getSerializedSize())
                .addKeyValue("resumeResponses", (long) policy.counter("policy_xds_responses"))
                .addKeyValue("resumeMs", resumeMs).log("delta ADS at scale across a replica restart");
    }

    /** The client holds exactly {@code state}'s resources for this node, content and versions. */
    void assertHolds(MeshState state) throws Exception {
        Map<String, Address> held = store.current().resources();
        assertThat(held.keySet()).isEqualTo(state.addresses().keySet());
        for (Resource r : state.addresses().values()) {
            assertThat(held.get(r.name())).as(r.name()).isEqualTo(r.body().unpack(Address.class));
        }
        Map<String, Authorization> kept = new HashMap<>();
        policies.all().forEach(a -> kept.put(a.getNamespace() + "/" + a.getName(), a));
        Map<String, Resource> wanted = state.resourcesFor(TypeUrls.AUTHORIZATION, NODE);
        assertThat(kept.keySet()).isEqualTo(wanted.keySet());
        assertThat(enforced.size()).isEqualTo(wanted.size());
        for (Resource r : wanted.values()) {
            assertThat(kept.get(r.name())).as(r.name()).isEqualTo(r.body().unpack(Authorization.class));
        }
        assertThat(new TreeMap<>(client.versions().get(DeltaAdsClient.ADDRESS_TYPE)))
                .isEqualTo(versions(state.addresses()));
        assertThat(new TreeMap<>(client.versions().get(DeltaAdsClient.AUTHORIZATION_TYPE))).isEqualTo(versions(wanted));
    }

    /** Every response the running replica sent was acknowledged. */
    boolean settled() {
        return policy.counter("policy_xds_acks") + policy.counter("policy_xds_nacks")
                == policy.counter("policy_xds_responses");
    }

    double sent(String type, String op) {
        return policy.counter("policy_xds_resources", "type_url", type, "op", op);
    }

    double terminations() {
        return clientCounter("istio_xds_connection_terminations");
    }

    /** The sum of a client counter's series ({@code name} without {@code _total}). */
    double clientCounter(String name) {
        double sum = 0;
        for (var m : clientMetrics.scrape()) {
            if (m.getMetadata().getName().equals(name) && m instanceof CounterSnapshot c) {
                for (var d : c.getDataPoints()) {
                    sum += d.getValue();
                }
            }
        }
        return sum;
    }

    static Map<String, String> versions(Map<String, Resource> resources) {
        Map<String, String> out = new TreeMap<>();
        resources.forEach((name, r) -> out.put(name, r.version()));
        return out;
    }

    /** What a client holding {@code before} needs to reach {@code after}. */
    record Diff(List<String> updated, List<String> removed) {
        static Diff of(Map<String, String> before, Map<String, String> after) {
            List<String> updated = new ArrayList<>();
            List<String> removed = new ArrayList<>();
            after.forEach((name, version) -> {
                if (!version.equals(before.get(name))) {
                    updated.add(name);
                }
            });
            before.keySet().forEach(name -> {
                if (!after.containsKey(name)) {
                    removed.add(name);
                }
            });
            return new Diff(updated, removed);
        }
    }
}
