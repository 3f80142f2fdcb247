package io.jmesh.ca.revocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.ca.v1.CaAdminGrpcClient;
import io.jmesh.proto.ca.v1.RevocationReason;
import io.jmesh.proto.ca.v1.RevokeRequest;
import io.jmesh.testing.KafkaExtension;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
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
 * Every revocation reaches the compacted revocation topic of a real Kafka, also when the CA's event queue was full
 * at the moment it was revoked (an audit burst, a slow broker): a dropped record is offered again, not forgotten.
 */
@Timeout(120)
class RevocationTopicTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";
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
            // one identity revocation offers more records at once than this queue holds
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
    void everyRevokedSerialReachesTheTopicAlthoughTheQueueWasFull() throws Exception {
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

    private static Set<String> keysOnTopic() {
        Map<String, Object> props = new HashMap<>(kafka.consumerConfig("reader-" + System.nanoTime(),
                ByteArrayDeserializer.class, ByteArrayDeserializer.class));
        Set<String> keys = new HashSet<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(REVOCATION_TOPIC, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            for (int i = 0; i < 40 && consumer.position(tp) < end; i++) {
                consumer.poll(Duration.ofMillis(250))
                        .forEach(r -> keys.add(new String(r.key(), StandardCharsets.UTF_8)));
            }
        }
        return keys;
    }
}
