package io.jmesh.policy.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.source.ConfigApplier;
import io.jmesh.policy.source.DirectorySource;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.policy.v1.ApplyResult;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Manifests → validation → config log (real Kafka) → replicas that materialize, replay and agree. */
@Timeout(120)
class RegistryFromLogTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static final MeshSettings SETTINGS = new MeshSettings("istio-system", "cluster.local", "Kubernetes",
            "cluster.local");
    static final String UID = "Kubernetes/networking.istio.io/WorkloadEntry/shop/";

    static final String WORKLOADS = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: reviews-1, namespace: shop}
            spec: {address: 127.0.10.5, labels: {app: reviews}, node: node-a}
            ---
            apiVersion: networking.istio.io/v1
            kind: WorkloadEntry
            metadata: {name: db-1, namespace: shop}
            spec: {address: 127.0.10.6, labels: {app: db}, node: node-b}
            """;
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: reviews-only-sleep, namespace: shop}
            spec:
              selector: {matchLabels: {app: reviews}}
              rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/sleep]}}]}]
            """;

    @TempDir
    Path dir;
    String topic;
    ConfigLogWriter writer;
    PolicyRegistry replicaA;
    PolicyRegistry replicaB;
    DirectorySource source;
    final PrometheusRegistry metrics = new PrometheusRegistry();

    @BeforeEach
    void setUp() {
        topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        writer = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer");
        replicaA = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica-a", SETTINGS, metrics);
    }

    @AfterEach
    void tearDown() {
        if (source != null) {
            source.close();
        }
        for (AutoCloseable c : new AutoCloseable[] {replicaA, replicaB, writer}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception ignored) {
                // best effort
            }
        }
    }

    ConfigApplier applier(PolicyRegistry r) {
        return new ConfigApplier(new ManifestReader("istio-system"), writer, r::snapshot, new PrometheusRegistry(),
                Clock.systemUTC());
    }

    @Test
    void manifestDirectoryChangesFlowToTheReplicaAndDeletesFollowFiles() throws Exception {
        replicaA.ready().get(60, TimeUnit.SECONDS);
        Files.writeString(dir.resolve("workloads.yaml"), WORKLOADS);
        Files.writeString(dir.resolve("policy.yaml"), POLICY);
        source = new DirectorySource(dir, Duration.ofMillis(100));
        source.start(applier(replicaA));

        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.state().addresses().containsKey(UID + "db-1")
                && replicaA.state().authorizations().containsKey("shop/reviews-only-sleep"));
        assertThat(replicaA.snapshot().get(ConfigKey.parse("WorkloadEntry/shop/db-1")).getSource())
                .isEqualTo("file:" + dir.resolve("workloads.yaml"));

        // an invalid edit keeps the last good objects
        Files.writeString(dir.resolve("policy.yaml"), POLICY.replace("principals", "principles"));
        // removing a document deletes its object; removing a file deletes all of its objects
        Files.writeString(dir.resolve("workloads.yaml"), WORKLOADS.substring(0, WORKLOADS.lastIndexOf("---")));
        await().atMost(Duration.ofSeconds(30)).until(() -> !replicaA.state().addresses().containsKey(UID + "db-1"));
        assertThat(replicaA.state().authorizations()).containsKey("shop/reviews-only-sleep");
        assertThat(replicaA.state().addresses()).containsKey(UID + "reviews-1");

        Files.delete(dir.resolve("policy.yaml"));
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.state().authorizations().isEmpty());
    }

    /** {@code workloads.yaml} written and applied by a directory source polling every 100 ms; returns the file. */
    Path workloadsApplied() throws Exception {
        replicaA.ready().get(60, TimeUnit.SECONDS);
        Path file = dir.resolve("workloads.yaml");
        Files.writeString(file, WORKLOADS);
        source = new DirectorySource(dir, Duration.ofMillis(100));
        source.start(applier(replicaA));
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.state().addresses().containsKey(UID + "db-1"));
        return file;
    }

    @Test
    void aManifestCaughtMidWriteIsNotAppliedAsItIsThen() throws Exception {
        Path file = workloadsApplied();
        AtomicBoolean lost = new AtomicBoolean();
        replicaA.onState(s -> lost.compareAndSet(false, !s.addresses().containsKey(UID + "db-1")));

        // a writer that truncates the file, stalls over a few scans, then writes it whole again
        Files.writeString(file, WORKLOADS.substring(0, WORKLOADS.lastIndexOf("---")));
        Thread.sleep(250);
        Files.writeString(file, WORKLOADS);
        Thread.sleep(1000); // a few scans past the settle time of both writes
        assertThat(lost).as("the truncated content was never applied").isFalse();
        assertThat(replicaA.state().addresses()).containsKey(UID + "db-1");
    }

    @Test
    void aFileChangedJustBeforeARestartKeepsItsObjectsUntilItSettlesThenDropsWhatItNoLongerHolds() throws Exception {
        Path file = workloadsApplied();
        source.close();

        // edited while policy restarts: the first scan finds it still settling
        AtomicBoolean lost = new AtomicBoolean();
        replicaA.onState(s -> lost.compareAndSet(false, !s.addresses().containsKey(UID + "reviews-1")));
        Files.writeString(file, WORKLOADS.substring(0, WORKLOADS.lastIndexOf("---")));
        source = new DirectorySource(dir, Duration.ofMillis(100));
        source.start(applier(replicaA));
        await().atMost(Duration.ofSeconds(30)).until(() -> !replicaA.state().addresses().containsKey(UID + "db-1"));
        assertThat(lost).as("the settling file's objects were not taken for orphans").isFalse();
        assertThat(replicaA.state().addresses()).containsKey(UID + "reviews-1");
    }

    @Test
    void badRecordsInTheLogAreSkippedCountedAndTheRestServed() throws Exception {
        ConfigApplier applier = applier(replicaA);
        replicaA.ready().get(60, TimeUnit.SECONDS);
        List<ApplyResult> results = applier.apply(List.of(WORKLOADS), "test", false).get(30, TimeUnit.SECONDS);
        assertThat(results).allMatch(ApplyResult::getAccepted);
        // a writer that bypassed validation, and garbage
        ConfigRecord good = replicaA.snapshot().get(ConfigKey.parse("WorkloadEntry/shop/reviews-1"));
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.snapshot().size() == 3);
        good = replicaA.snapshot().get(ConfigKey.parse("WorkloadEntry/shop/reviews-1"));
        ConfigRecord bad = good.toBuilder().setWorkloadEntry(good.getWorkloadEntry().toBuilder().setAddress("x.y"))
                .build();
        writer.putRaw("WorkloadEntry/shop/reviews-1".getBytes(StandardCharsets.UTF_8), bad.toByteArray()).get();
        writer.putRaw("WorkloadEntry/shop/garbage".getBytes(StandardCharsets.UTF_8), new byte[] {1, 2, 3}).get();
        applier.apply(List.of(POLICY), "test", false).get(30, TimeUnit.SECONDS);

        await().atMost(Duration.ofSeconds(30)).until(() ->
                replicaA.state().authorizations().containsKey("shop/reviews-only-sleep"));
        MeshState s = replicaA.state();
        assertThat(s.skipped()).extracting(MeshState.Skipped::key).containsExactly("WorkloadEntry/shop/reviews-1");
        assertThat(s.addresses()).containsKey(UID + "db-1").doesNotContainKey(UID + "reviews-1");
        assertThat(counter("policy_config_log_skipped")).isGreaterThanOrEqualTo(1);
        assertThat(counter("mesh_config_log_rejected")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void twoReplicasAgreeAndARestartIsAReplay() throws Exception {
        ConfigApplier applier = applier(replicaA);
        replicaA.ready().get(60, TimeUnit.SECONDS);
        applier.apply(List.of(WORKLOADS, POLICY), "test", false).get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.snapshot().size() == 4);
        applier.delete(ConfigKey.parse("WorkloadEntry/shop/db-1"), false).get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.snapshot().size() == 3);

        replicaB = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica-b", SETTINGS,
                new PrometheusRegistry());
        MeshState b = replicaB.ready().get(60, TimeUnit.SECONDS);
        assertThat(b.offsets()).isEqualTo(replicaA.state().offsets());
        assertThat(b.addresses()).isEqualTo(replicaA.state().addresses());
        assertThat(b.authorizations()).isEqualTo(replicaA.state().authorizations());

        replicaA.close();
        replicaA = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica-a2", SETTINGS,
                new PrometheusRegistry());
        MeshState replayed = replicaA.ready().get(60, TimeUnit.SECONDS);
        assertThat(replayed.addresses()).isEqualTo(b.addresses()).doesNotContainKey(UID + "db-1");
        assertThat(replayed.authorizations()).isEqualTo(b.authorizations());
    }

    @Test
    void reapplyingIsUnchangedAndDryRunWritesNothing() throws Exception {
        ConfigApplier applier = applier(replicaA);
        replicaA.ready().get(60, TimeUnit.SECONDS);
        assertThat(applier.apply(List.of(POLICY), "test", true).get(30, TimeUnit.SECONDS))
                .extracting(ApplyResult::getChange).containsExactly(ApplyResult.Change.CREATED);
        applier.apply(List.of(POLICY), "test", false).get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.snapshot().size() == 1);
        assertThat(applier.apply(List.of(POLICY), "test", false).get(30, TimeUnit.SECONDS))
                .extracting(ApplyResult::getChange).containsExactly(ApplyResult.Change.UNCHANGED);
        List<ApplyResult> updated = applier.apply(List.of(POLICY.replace("sa/sleep", "sa/curl")), "test", false)
                .get(30, TimeUnit.SECONDS);
        assertThat(updated.get(0).getChange()).isEqualTo(ApplyResult.Change.UPDATED);
        assertThat(updated.get(0).getRecord().getMetadata().getGeneration()).isEqualTo(2);
    }

    @Test
    void gatewayBindingsTravelThroughTheLogAndAClassChangeRederivesTheInstances() throws Exception {
        String waypoint = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: waypoint-1, namespace: shop}
                spec: {address: 127.0.10.20, node: node-a, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop}
                spec: {gatewayClassName: sandwiched}
                """;
        ConfigApplier applier = applier(replicaA);
        replicaA.ready().get(60, TimeUnit.SECONDS);
        assertThat(applier.apply(List.of(waypoint, sandwichedClass(15088)), "test", false).get(30, TimeUnit.SECONDS))
                .allMatch(ApplyResult::getAccepted);
        await().atMost(Duration.ofSeconds(30)).until(() -> tunnelPort("waypoint-1") == 15088);

        applier.apply(List.of(sandwichedClass(15099)), "test", false).get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(30)).until(() -> tunnelPort("waypoint-1") == 15099);
        assertThat(counter("mesh_config_log_rejected")).as("the log reader knows both kinds").isZero();
    }

    @Test
    void aNetworkGatewayTravelsThroughTheLogToTheWorkloadsOnItsNetwork() throws Exception {
        String network = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-b, namespace: shop}
                spec: {address: 10.1.0.5, node: node-b, network: net-b}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: ew, namespace: istio-system, labels: {topology.istio.io/network: net-b}}
                spec:
                  gatewayClassName: istio-east-west
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                  addresses: [{type: IPAddress, value: 192.0.2.2}]
                """;
        ConfigApplier applier = applier(replicaA);
        replicaA.ready().get(60, TimeUnit.SECONDS);
        assertThat(applier.apply(List.of(network), "test", false).get(30, TimeUnit.SECONDS))
                .allMatch(ApplyResult::getAccepted);
        await().atMost(Duration.ofSeconds(30)).until(() -> replicaA.state().addresses().containsKey(UID + "vm-b")
                && workload("vm-b").hasNetworkGateway());
        assertThat(workload("vm-b").getNetworkGateway().getHboneMtlsPort()).isEqualTo(15008);
        assertThat(workload("vm-b").getNetworkGateway().getAddress().getAddress().toByteArray())
                .containsExactly(192, 0, 2, 2);
    }

    private io.jmesh.proto.istio.workload.Workload workload(String name) throws Exception {
        return Address.parseFrom(replicaA.state().addresses().get(UID + name).body().getValue()).getWorkload();
    }

    static String sandwichedClass(int port) {
        return "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: sandwiched\n"
                + "  annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/" + port + "}\n"
                + "spec: {controllerName: example.com/gateway-controller}\n";
    }

    /** The application tunnel port replica A serves for a workload of "shop"; -1 while it has no such workload. */
    private int tunnelPort(String workload) throws Exception {
        var address = replicaA.state().addresses().get(UID + workload);
        return address == null ? -1
                : Address.parseFrom(address.body().getValue()).getWorkload().getApplicationTunnel().getPort();
    }

    private double counter(String name) {
        return metrics.scrape().stream().filter(m -> m.getMetadata().getName().equals(name))
                .flatMap(m -> m.getDataPoints().stream())
                .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d)
                        .getValue()).sum();
    }
}
