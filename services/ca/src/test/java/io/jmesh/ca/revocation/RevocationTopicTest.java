package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ca.cli.CaCli;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.RootGenerator;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.CaAdminGrpcClient;
import io.jmesh.proto.ca.v1.RevocationReason;
import io.jmesh.proto.ca.v1.RevokeRequest;
import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.MutableClock;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Every revocation reaches the compacted revocation topic of a real Kafka, also when the CA's event queue for audit
 * events is full (an audit burst, a slow broker) or Kafka failed to store it at first; and leaves it (a tombstone)
 * once its certificate has expired.
 */
@Timeout(120)
class RevocationTopicTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";
    static final String POLICY = "spiffe://cluster.local/ns/istio-system/sa/policy";
    static final String CONFIG_TOPIC = KafkaExtension.uniqueTopic("config");
    static final String AUDIT_TOPIC = KafkaExtension.uniqueTopic("audit");
    static final String REVOCATION_TOPIC = KafkaExtension.uniqueTopic("revocations");
    static final int CERTIFICATES = 24;

    @RegisterExtension
    @Order(1)
    static final KafkaExtension kafka = new KafkaExtension();

    @RegisterExtension
    @Order(2)
    static final CaServerExtension ca = CaServerExtension.builder()
            .kafka(kafka::bootstrapServers)
            .config("placement.topic", CONFIG_TOPIC)
            .config("audit.topic", AUDIT_TOPIC)
            .config("revocation.topic", REVOCATION_TOPIC)
            // the audit events of the issuances below overflow this queue: revocations must not share it
            .config("kafka.queueCapacity", "2")
            .build();

    static Vertx vertx;
    static CaClient client;

    @BeforeAll
    static void setUp() {
        kafka.createTopic(CONFIG_TOPIC, 1, true);
        vertx = Vertx.vertx();
        client = ca.client(vertx);
    }

    @AfterAll
    static void tearDown() throws Exception {
        client.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    @Test
    void everyRevokedSerialReachesTheTopicAlthoughTheEventQueueWasFull() throws Exception {
        Set<String> issued = new HashSet<>();
        for (int i = 0; i < CERTIFICATES; i++) {
            issued.add(Certificates.serialHex(Pem.certificate(get(client.createCertificate(ca.nodeToken("node-a"),
                    TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null)).getCertChain(0))));
        }
        var revoked = get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"), RevokeRequest.newBuilder()
                .setIdentity(ZTUNNEL).setReason(RevocationReason.KEY_COMPROMISE).build()));
        assertThat(revoked.getRevokedSerialsHexList()).containsExactlyInAnyOrderElementsOf(issued);

        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1))
                .untilAsserted(() -> assertThat(keysOnTopic()).containsAll(issued));
    }

    /**
     * A CA that starts with revocations in its state directory publishes them at once. The broker creates a topic on
     * first use (auto.create.topics.enable, Kafka's default) with the broker's cleanup policy, delete: the CA must
     * have created it compacted before, or its records are deleted after the retention time.
     */
    @Test
    void theTopicIsCompactedAlsoWhenRevocationsArePublishedAtStart(@TempDir Path state) throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-at-start");
        int code = new CaCli(new PrintStream(new ByteArrayOutputStream()), new PrintStream(
                new ByteArrayOutputStream()), Clock.systemUTC()).run("revoke", "--serial", "3f9a01",
                "--state-dir", state.toString());
        assertThat(code).isZero();
        CaServerExtension second = CaServerExtension.builder().stateDir(state).replica("ca-at-start")
                .kafka(kafka::bootstrapServers).config("placement.topic", CONFIG_TOPIC)
                .config("audit.topic", AUDIT_TOPIC).config("revocation.topic", topic).build();
        second.start();
        try {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(keysOn(topic)).contains("3f9a01"));
            assertThat(cleanupPolicy(topic)).isEqualTo("compact");
            // the default, min(3, brokers), on this single broker
            assertThat(kafka.admin().describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
                    .get(topic).partitions().get(0).replicas()).hasSize(1);
        } finally {
            second.stop();
        }
    }

    @Test
    void anExistingTopicThatIsNotCompactedIsSwitchedToCompaction() throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-not-compacted");
        kafka.createTopic(topic, 1, false);
        RevocationTopic.ensure(kafka.bootstrapServers(), topic, 0, Duration.ofSeconds(10));
        assertThat(cleanupPolicy(topic)).isEqualTo("compact");
    }

    /** An explicit replication factor is used as given: more replicas than brokers is refused, naming the key. */
    @Test
    void aReplicationFactorTheClusterCannotHoldIsRefusedNamingTheKey() {
        String topic = KafkaExtension.uniqueTopic("revocations-too-many-replicas");
        assertThatThrownBy(() -> RevocationTopic.ensure(kafka.bootstrapServers(), topic, 2, Duration.ofSeconds(10)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot create " + topic + " with revocation.topicReplicationFactor 2: ")
                .hasMessageContaining("1 broker");
    }

    /**
     * Once a revoked certificate has expired its revocation no longer matters (the CRL leaves it out): a tombstone
     * for its serial lets compaction remove the record, or the topic would keep every revocation for ever.
     */
    @Test
    void aRevocationWhoseCertificateExpiredIsRemovedFromTheTopicByATombstone() throws Exception {
        String serial = Certificates.serialHex(Pem.certificate(get(client.createCertificate(
                ca.serviceToken("policy"), TestCsrs.forIdentity(POLICY).pem(), 2, null)).getCertChain(0)));
        get(client.call(CaAdminGrpcClient.Revoke, ca.serviceToken("admin"), RevokeRequest.newBuilder()
                .setSerialHex(serial).setReason(RevocationReason.KEY_COMPROMISE).build()));

        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(recordsOn(REVOCATION_TOPIC)).anySatisfy(r -> {
                    assertThat(r.key()).isEqualTo(serial);
                    assertThat(r.value()).isNotNull();
                }));
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(lastValueOf(recordsOn(REVOCATION_TOPIC), serial))
                        .as("latest record of %s", serial).isEqualTo(TOMBSTONE));
    }

    /**
     * A record the producer took but Kafka refused to store (here: larger than the topic's max.message.bytes, until
     * an operator raises it) is sent again at a later state check, not only counted as lost.
     */
    @Test
    void aRevocationKafkaFailedToStoreIsSentAgain(@TempDir Path state) throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-refused");
        kafka.createTopic(topic, 1, Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "64"));
        int code = new CaCli(new PrintStream(new ByteArrayOutputStream()), new PrintStream(
                new ByteArrayOutputStream()), Clock.systemUTC()).run("revoke", "--serial", "5e1d02",
                "--state-dir", state.toString());
        assertThat(code).isZero();
        CaServerExtension second = CaServerExtension.builder().stateDir(state).replica("ca-refused")
                .kafka(kafka::bootstrapServers).config("placement.topic", CONFIG_TOPIC)
                .config("audit.topic", AUDIT_TOPIC).config("revocation.topic", topic).build();
        second.start();
        try {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(second.metric(
                    "ca_revocation_records_total", "kind", "revocation", "result", "failed")).isPositive());
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            kafka.admin().incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(new ConfigEntry(
                    TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "1048588"), AlterConfigOp.OpType.SET))))
                    .all().get(30, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(keysOn(topic)).contains("5e1d02"));
        } finally {
            second.stop();
        }
    }

    /**
     * An existing topic keeps its replicas (only a partition reassignment changes them), but one with fewer than
     * {@code revocation.topicReplicationFactor} asks is one broker loss away from losing revocations: said once,
     * naming the topic, what it has and what is asked, and counted.
     */
    @Test
    void anExistingTopicWithFewerReplicasThanAskedIsFlaggedAndLeftAlone(@TempDir Path state) throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-under-replicated");
        kafka.createTopic(topic, 1, true);
        Logger logger = (Logger) LoggerFactory.getLogger(RevocationTopic.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        CaServerExtension second = CaServerExtension.builder().stateDir(state).replica("ca-under-replicated")
                .kafka(kafka::bootstrapServers).config("placement.topic", CONFIG_TOPIC)
                .config("audit.topic", AUDIT_TOPIC).config("revocation.topic", topic)
                .config("revocation.topicReplicationFactor", "2").build();
        second.start();
        try {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(second.metric(
                    "ca_revocation_topic_config_warnings_total", "reason", "replication_factor")).isEqualTo(1));
            assertThat(lines.list).filteredOn(e -> e.getLevel() == Level.WARN).extracting(
                    ILoggingEvent::getFormattedMessage).singleElement().asString().contains(topic,
                    "replication factor 1", "revocation.topicReplicationFactor asks 2");
            assertThat(kafka.admin().describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
                    .get(topic).partitions().get(0).replicas()).as("not altered").hasSize(1);
        } finally {
            logger.detachAppender(lines);
            second.stop();
        }
    }

    /**
     * A revocation whose certificate expired long ago leaves the state directory only once this replica saw its
     * tombstone stored: dropped before, no one would ever tombstone it, and the topic would keep it for ever.
     */
    @Test
    void anExpiredRevocationIsPrunedOnlyOnceItsTombstoneIsStored(@TempDir Path dir) throws Exception {
        String topic = KafkaExtension.uniqueTopic("revocations-pruned");
        kafka.createTopic(topic, 1, true);
        Instant t0 = Instant.parse("2026-12-02T10:00:00Z");
        MutableClock clock = new MutableClock(t0);
        StateDirectory state = StateDirectory.open(dir);
        try (IssuanceJournal journal = IssuanceJournal.open(state, "pruning", t0)) {
            journal.append(new IssuanceJournal.Entry("7a", t0.plus(Duration.ofHours(1)), POLICY));
        }
        RootGenerator.GeneratedRoot root = RootGenerator.generate("cluster.local", Duration.ofDays(365), t0);
        CaAuthority authority = CaAuthority.of(root.certificate(), root.key(), List.of(),
                List.of(root.certificate()), "test", t0);
        Duration pruneAfterExpiry = Duration.ofDays(7);
        try (RevocationSender nowhere = RevocationSender.create(new KafkaSettings("127.0.0.1:1", 16,
                Duration.ofSeconds(5)), "ca-pruning-nowhere", topic, new PrometheusRegistry());
                RevocationSender sender = RevocationSender.create(new KafkaSettings(kafka.bootstrapServers(), 16,
                        Duration.ofSeconds(5)), "ca-pruning", topic, new PrometheusRegistry())) {
            // a replica whose Kafka is away keeps it
            Revocations away = new Revocations(new RevocationStore(state, clock), () -> authority,
                    new TrustBundleState("cluster.local", clock), nowhere, Duration.ofHours(1), pruneAfterExpiry,
                    clock);
            away.topicReady();
            away.revokeSerial("7a", RevocationReason.KEY_COMPROMISE, "", "admin");
            clock.set(t0.plus(Duration.ofDays(30)));
            away.refresh();
            away.refresh();
            assertThat(new RevocationStore(state, clock).all()).as("no tombstone stored").containsKey("7a");

            Revocations revocations = new Revocations(new RevocationStore(state, clock), () -> authority,
                    new TrustBundleState("cluster.local", clock), sender, Duration.ofHours(1), pruneAfterExpiry,
                    clock);
            revocations.topicReady();
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
                revocations.refresh();
                assertThat(revocations.store().all()).doesNotContainKey("7a");
            });
            assertThat(lastValueOf(recordsOn(topic), "7a")).isEqualTo(TOMBSTONE);
            assertThat(new RevocationStore(state, clock).all()).isEmpty();
        }
    }

    private static String cleanupPolicy(String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = kafka.admin().describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS)
                .get(resource);
        return config.get(TopicConfig.CLEANUP_POLICY_CONFIG).value();
    }

    private static Set<String> keysOnTopic() {
        return keysOn(REVOCATION_TOPIC);
    }

    private static Set<String> keysOn(String topic) {
        Set<String> keys = new HashSet<>();
        recordsOn(topic).forEach(r -> keys.add(r.key()));
        return keys;
    }

    /** One record of the revocation topic: key, and value (null for a tombstone). */
    record TopicRecord(String key, byte[] value) {}

    private static final String TOMBSTONE = "tombstone";

    private static String lastValueOf(List<TopicRecord> records, String key) {
        String last = "absent";
        for (TopicRecord r : records) {
            if (r.key().equals(key)) {
                last = r.value() == null ? TOMBSTONE : "revocation";
            }
        }
        return last;
    }

    private static List<TopicRecord> recordsOn(String topic) {
        Map<String, Object> props = new HashMap<>(kafka.consumerConfig("reader-" + System.nanoTime(),
                ByteArrayDeserializer.class, ByteArrayDeserializer.class));
        List<TopicRecord> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            for (int i = 0; i < 40 && consumer.position(tp) < end; i++) {
                consumer.poll(Duration.ofMillis(250)).forEach(r -> records.add(
                        new TopicRecord(new String(r.key(), StandardCharsets.UTF_8), r.value())));
            }
        }
        return records;
    }
}
