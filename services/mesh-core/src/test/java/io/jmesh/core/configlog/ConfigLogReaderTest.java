package io.jmesh.core.configlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.NamespaceSpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The config log against a real KRaft broker: replay, follow, tombstones, bad records, replica agreement. */
@Timeout(120)
class ConfigLogReaderTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @Test
    void replaysThenFollowsAndTwoReadersAgree() throws Exception {
        String topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        try (ConfigLogWriter writer = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer")) {
            writer.put(workload("default", "productpage", "node-a")).get(30, TimeUnit.SECONDS);
            writer.put(workload("default", "reviews", "node-b")).get(30, TimeUnit.SECONDS);
            writer.put(workload("default", "reviews", "node-a")).get(30, TimeUnit.SECONDS);

            try (ConfigLogReader a = ConfigLogReader.start(kafka.bootstrapServers(), topic, "a", new PrometheusRegistry());
                 ConfigLogReader b = ConfigLogReader.start(kafka.bootstrapServers(), topic, "b", new PrometheusRegistry())) {
                ConfigSnapshot replayed = a.caughtUp().get(30, TimeUnit.SECONDS);
                assertThat(replayed.size()).isEqualTo(2);
                assertThat(replayed.get(ConfigKey.parse("WorkloadEntry/default/reviews")).getWorkloadEntry().getNode())
                        .isEqualTo("node-a");

                List<Set<ConfigKey>> changes = new CopyOnWriteArrayList<>();
                a.onChange((s, changed) -> changes.add(changed));
                writer.delete(ConfigKey.parse("WorkloadEntry/default/productpage")).get(30, TimeUnit.SECONDS);
                writer.put(namespace("default")).get(30, TimeUnit.SECONDS);

                await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                    assertThat(a.snapshot().get(ConfigKey.parse("WorkloadEntry/default/productpage"))).isNull();
                    assertThat(a.snapshot().get(ConfigKey.parse("Namespace//default"))).isNotNull();
                });
                assertThat(changes.stream().flatMap(Set::stream))
                        .contains(ConfigKey.parse("WorkloadEntry/default/productpage"), ConfigKey.parse("Namespace//default"));
                await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                    assertThat(b.snapshot().offsets()).isEqualTo(a.snapshot().offsets());
                    assertThat(b.snapshot().records()).isEqualTo(a.snapshot().records());
                });
            }
        }
    }

    @Test
    void badRecordsAreSkippedCountedAndPoisonNothing() throws Exception {
        String topic = KafkaExtension.uniqueTopic("config-bad");
        kafka.createTopic(topic, 1, true);
        PrometheusRegistry metrics = new PrometheusRegistry();
        try (ConfigLogWriter writer = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer")) {
            ConfigRecord good = workload("default", "echo", "node-b");
            writer.put(good).get(30, TimeUnit.SECONDS);
            // garbage bytes, a key that is no key, a record stored under someone else's key, a future schema
            writer.putRaw(bytes("WorkloadEntry/default/echo"), new byte[] {(byte) 0xff, 0x01, 0x02}).get();
            writer.putRaw(bytes("not-a-key"), good.toByteArray()).get();
            writer.putRaw(bytes("WorkloadEntry/default/other"), good.toByteArray()).get();
            writer.putRaw(bytes("WorkloadEntry/default/echo"), good.toBuilder().setSchemaVersion(7).build().toByteArray())
                    .get();
            ConfigRecord later = workload("default", "later", "node-a");
            writer.put(later).get(30, TimeUnit.SECONDS);

            try (ConfigLogReader r = ConfigLogReader.start(kafka.bootstrapServers(), topic, "r", metrics)) {
                ConfigSnapshot s = r.caughtUp().get(30, TimeUnit.SECONDS);
                // the good version of echo survives every bad write under its key, and the log goes on
                assertThat(s.get(ConfigKey.of(good))).isEqualTo(good);
                assertThat(s.get(ConfigKey.of(later))).isEqualTo(later);
                assertThat(s.size()).isEqualTo(2);
            }
        }
        assertThat(rejected(metrics, "undecodable")).isEqualTo(1);
        assertThat(rejected(metrics, "bad_key")).isEqualTo(1);
        assertThat(rejected(metrics, "key_mismatch")).isEqualTo(1);
        assertThat(rejected(metrics, "unknown_schema_version")).isEqualTo(1);
    }

    @Test
    void aReaderStartedBeforeTheTopicExistsWaitsForIt() throws Exception {
        String topic = KafkaExtension.uniqueTopic("config-late");
        try (ConfigLogReader r = ConfigLogReader.start(kafka.bootstrapServers(), topic, "early", new PrometheusRegistry())) {
            assertThat(r.caughtUp()).isNotDone();
            kafka.createTopic(topic, 1, true);
            assertThat(r.caughtUp().get(30, TimeUnit.SECONDS).size()).isZero();
        }
    }

    static ConfigRecord workload(String ns, String name, String node) {
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("WorkloadEntry")
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name).setUid(ns + "-" + name))
                .setWorkloadEntry(WorkloadEntrySpec.newBuilder().setNode(node).setServiceAccount(name)).build();
    }

    static ConfigRecord namespace(String name) {
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("Namespace")
                .setMetadata(ObjectMeta.newBuilder().setName(name).putLabels("istio.io/dataplane-mode", "ambient"))
                .setNamespace(NamespaceSpec.getDefaultInstance()).build();
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static double rejected(PrometheusRegistry registry, String reason) {
        return registry.scrape().stream()
                .filter(s -> s.getMetadata().getName().equals("mesh_config_log_rejected"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }
}
