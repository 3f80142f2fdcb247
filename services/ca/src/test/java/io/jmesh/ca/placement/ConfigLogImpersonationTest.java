package io.jmesh.ca.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.CertificateAudit;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.testing.KafkaExtension;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Impersonation decided by placement materialized from a real Kafka config log, and audit events on a real
 * Kafka topic.
 */
@Timeout(180)
class ConfigLogImpersonationTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";
    static final String REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews";
    static final String CONFIG_TOPIC = KafkaExtension.uniqueTopic("config");
    static final String AUDIT_TOPIC = KafkaExtension.uniqueTopic("audit");
    static final String REVOCATION_TOPIC = KafkaExtension.uniqueTopic("revocations");

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
            .build();

    static Vertx vertx;
    static CaClient client;
    static ConfigLogWriter writer;

    @BeforeAll
    static void setUp() {
        kafka.createTopic(CONFIG_TOPIC, 1, true);
        kafka.createTopic(AUDIT_TOPIC, 1, false);
        writer = new ConfigLogWriter(kafka.bootstrapServers(), CONFIG_TOPIC, "test-writer");
        vertx = Vertx.vertx();
        client = ca.client(vertx);
    }

    @AfterAll
    static void tearDown() throws Exception {
        writer.close();
        client.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    static ConfigRecord workload(String name, String sa, String node) {
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("WorkloadEntry")
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName(name).setUid("default-" + name))
                .setWorkloadEntry(WorkloadEntrySpec.newBuilder().setAddress("127.0.10.11").setNode(node)
                        .setServiceAccount(sa)).build();
    }

    private Future<IstioCertificateResponse> ask(String node, String identity) {
        return client.createCertificate(ca.nodeToken(node), TestCsrs.forIdentity(identity).pem(), 3600, identity);
    }

    @Test
    void aNodeObtainsOnlyIdentitiesOfWorkloadsScheduledOnIt() throws Exception {
        writer.put(workload("sleep-1", "sleep", "node-a")).get(30, TimeUnit.SECONDS);
        writer.put(workload("reviews-1", "reviews", "node-b")).get(30, TimeUnit.SECONDS);

        await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .untilAsserted(() -> assertThat(get(ask("node-a", SLEEP)).getCertChainCount()).isEqualTo(2));
        IstioCertificateResponse issued = get(ask("node-a", SLEEP));
        String serial = Certificates.serialHex(Pem.certificate(issued.getCertChain(0)));

        assertThatThrownBy(() -> get(ask("node-a", REVIEWS))).cause()
                .isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED);
                    assertThat(e.statusMessage()).isEqualTo("node node-a runs no workload with identity " + REVIEWS
                            + " (placement: config log " + CONFIG_TOPIC + ")");
                });
        assertThat(get(ask("node-b", REVIEWS)).getCertChainCount()).isEqualTo(2);

        // the workload leaves node-a: its identity is no longer issued there
        writer.delete(ConfigKey.parse("WorkloadEntry/default/sleep-1")).get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThatThrownBy(() -> get(ask("node-a", SLEEP)))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED)));

        Map<String, List<CertificateAudit>> byIdentity = new HashMap<>();
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            readAudit(byIdentity);
            assertThat(byIdentity.getOrDefault(SLEEP, List.of()))
                    .anySatisfy(a -> {
                        assertThat(a.getOutcome()).isEqualTo(CertificateAudit.Outcome.ISSUED);
                        assertThat(a.getSerialHex()).isEqualTo(serial);
                        assertThat(a.getCallerNode()).isEqualTo("node-a");
                        assertThat(a.getReplica()).isEqualTo("test-ca");
                        assertThat(a.getNotAfter().getSeconds()).isPositive();
                    });
            assertThat(byIdentity.getOrDefault(REVIEWS, List.of()))
                    .anySatisfy(a -> {
                        assertThat(a.getOutcome()).isEqualTo(CertificateAudit.Outcome.REFUSED);
                        assertThat(a.getReasonCode()).isEqualTo(CertificateAudit.ReasonCode.NODE_NOT_AUTHORIZED);
                        assertThat(a.getCallerNode()).isEqualTo("node-a");
                        assertThat(a.getReasonMessage()).contains("runs no workload");
                    });
        });
    }

    @Test
    void aPodRegisteredFromTheClusterPlacesItsIdentityOnItsNode() throws Exception {
        // what policy's Kubernetes source writes for a running pod: kind Pod, the workload under it
        ConfigRecord pod = workload("details-v1-5f4d8-abcde", "details", "node-d").toBuilder().setKind("Pod").build();
        writer.put(pod).get(30, TimeUnit.SECONDS);
        String details = "spiffe://cluster.local/ns/default/sa/details";
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .untilAsserted(() -> assertThat(get(ask("node-d", details)).getCertChainCount()).isEqualTo(2));
        assertThatThrownBy(() -> get(ask("node-a", details))).cause().isInstanceOfSatisfying(CaCallException.class,
                e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED));

        writer.delete(ConfigKey.parse("Pod/default/details-v1-5f4d8-abcde")).get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThatThrownBy(() -> get(ask("node-d", details)))
                .cause().isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED)));
    }

    @Test
    void aScheduledPodWithoutAddressYetPlacesItsIdentityOnItsNode() throws Exception {
        // what policy's Kubernetes source writes for a pod scheduled but still Pending, its IP not reported: node and
        // service account, no address; its ztunnel asks for the certificate before the pod starts (in-pod mode)
        ConfigRecord pending = workload("ratings-v1-7c9d-fghij", "ratings", "node-e").toBuilder().setKind("Pod")
                .setWorkloadEntry(WorkloadEntrySpec.newBuilder().setNode("node-e").setServiceAccount("ratings")
                        .setHealth(WorkloadEntrySpec.Health.UNHEALTHY)).build();
        writer.put(pending).get(30, TimeUnit.SECONDS);
        String ratings = "spiffe://cluster.local/ns/default/sa/ratings";
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .untilAsserted(() -> assertThat(get(ask("node-e", ratings)).getCertChainCount()).isEqualTo(2));
        assertThatThrownBy(() -> get(ask("node-a", ratings))).cause().isInstanceOfSatisfying(CaCallException.class,
                e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED));
    }

    @Test
    void revocationsArePublishedToTheCompactedTopicKeyedBySerial() throws Exception {
        writer.put(workload("ratings-1", "ratings", "node-c")).get(30, TimeUnit.SECONDS);
        String ratings = "spiffe://cluster.local/ns/default/sa/ratings";
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .untilAsserted(() -> assertThat(get(ask("node-c", ratings)).getCertChainCount()).isEqualTo(2));
        List<String> revoked = ca.bootstrap().revocations().revokeIdentity(ratings,
                io.jmesh.proto.ca.v1.RevocationReason.KEY_COMPROMISE, "test", "test").stream()
                .map(io.jmesh.proto.ca.v1.Revocation::getSerialHex).toList();
        assertThat(revoked).isNotEmpty();
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            Map<String, io.jmesh.proto.ca.v1.Revocation> bySerial = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : readAll(REVOCATION_TOPIC)) {
                if (r.value() == null) {
                    // a tombstone: the certificate expired, its revocation no longer matters
                    bySerial.remove(new String(r.key(), java.nio.charset.StandardCharsets.UTF_8));
                    continue;
                }
                io.jmesh.proto.ca.v1.Revocation rev = io.jmesh.proto.ca.v1.Revocation.parseFrom(r.value());
                assertThat(new String(r.key(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(rev.getSerialHex());
                bySerial.put(rev.getSerialHex(), rev);
            }
            assertThat(bySerial).containsKeys(revoked.toArray(new String[0]));
            assertThat(bySerial.get(revoked.get(0)).getIdentity()).isEqualTo(ratings);
            assertThat(bySerial.get(revoked.get(0)).getReason())
                    .isEqualTo(io.jmesh.proto.ca.v1.RevocationReason.KEY_COMPROMISE);
        });
        var configs = kafka.admin().describeConfigs(List.of(new org.apache.kafka.common.config.ConfigResource(
                org.apache.kafka.common.config.ConfigResource.Type.TOPIC, REVOCATION_TOPIC))).all().get(30, TimeUnit.SECONDS);
        assertThat(configs.values().iterator().next().get("cleanup.policy").value()).isEqualTo("compact");
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
        Map<String, Object> props = new HashMap<>(kafka.consumerConfig("reader-" + System.nanoTime(),
                ByteArrayDeserializer.class, ByteArrayDeserializer.class));
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            for (int i = 0; i < 40 && consumer.position(tp) < end; i++) {
                consumer.poll(Duration.ofMillis(250)).forEach(records::add);
            }
        }
        return records;
    }

    private static void readAudit(Map<String, List<CertificateAudit>> into) throws Exception {
        Map<String, Object> props = new HashMap<>(kafka.consumerConfig("audit-reader-" + System.nanoTime(),
                ByteArrayDeserializer.class, ByteArrayDeserializer.class));
        props.put("auto.offset.reset", "earliest");
        into.clear();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(AUDIT_TOPIC, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
            for (int i = 0; i < 40 && consumer.position(tp) < end; i++) {
                consumer.poll(Duration.ofMillis(250)).forEach(records::add);
            }
            for (ConsumerRecord<byte[], byte[]> r : records) {
                CertificateAudit a = CertificateAudit.parseFrom(r.value());
                assertThat(new String(r.key(), java.nio.charset.StandardCharsets.UTF_8))
                        .isEqualTo(a.getRequestedIdentity());
                into.computeIfAbsent(a.getRequestedIdentity(), k -> new ArrayList<>()).add(a);
            }
        }
    }
}
