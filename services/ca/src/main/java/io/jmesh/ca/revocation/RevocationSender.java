package io.jmesh.ca.revocation;

import io.jmesh.core.kafka.KafkaSettings;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes revocation records (key = serial hex) and tombstones to the revocation topic with a producer of its own,
 * and tells the caller whether Kafka stored each one. Audit events go through mesh-core's fire-and-forget
 * {@code EventPublisher}, which only counts a record Kafka failed to store; a revocation that never reaches the
 * topic must be sent again, so its sender needs the acknowledgement. Counted in
 * {@code ca_revocation_records_total{kind,result}} (kind {@code revocation} or {@code tombstone}, result
 * {@code stored} or {@code failed}).
 *
 * <p>Thread-safe. {@link #send} may block up to {@code max.block.ms} (1 s) while the producer has no metadata for
 * the topic or no buffer space: call it off event loops.
 */
public final class RevocationSender implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RevocationSender.class);

    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final Counter records;

    private RevocationSender(Producer<byte[], byte[]> producer, String topic, PrometheusRegistry metrics) {
        this.producer = producer;
        this.topic = topic;
        this.records = Counter.builder().name("ca_revocation_records_total")
                .help("Records written to the revocation topic, by kind (revocation, tombstone) and result"
                        + " (stored, failed: sent again at a later state check)")
                .labelNames("kind", "result").register(metrics);
        for (String kind : new String[] {"revocation", "tombstone"}) {
            records.labelValues(kind, "stored");
            records.labelValues(kind, "failed");
        }
    }

    /** A sender to {@code topic} of the Kafka in {@code settings} (which must be enabled). */
    public static RevocationSender create(KafkaSettings settings, String clientId, String topic,
            PrometheusRegistry metrics) {
        // idempotent and ordered: a serial's revocation and its later tombstone land in that order
        Properties p = settings.idempotentProducer(clientId);
        return new RevocationSender(new KafkaProducer<>(p), topic, metrics);
    }

    /**
     * Hands one record to the producer.
     *
     * @param value the serialized revocation, or null for a tombstone (compaction then removes the serial)
     * @param stored called once, on the producer's thread, with whether Kafka stored the record
     * @return false when the producer failed the record at once (no metadata, no buffer space: Kafka is away);
     *     {@code stored} has then been called with false already
     */
    public boolean send(String serial, byte[] value, Consumer<Boolean> stored) {
        String kind = value == null ? "tombstone" : "revocation";
        Future<RecordMetadata> sent;
        try {
            sent = producer.send(new ProducerRecord<>(topic, serial.getBytes(StandardCharsets.UTF_8), value),
                    (md, err) -> {
                        records.labelValues(kind, err == null ? "stored" : "failed").inc();
                        if (err != null) {
                            log.atDebug().addKeyValue("topic", topic).addKeyValue("serial", serial)
                                    .addKeyValue("kind", kind).log("not stored, sent again later: {}",
                                            err.getMessage());
                        }
                        stored.accept(err == null);
                    });
        } catch (RuntimeException e) {
            // the producer is closed, or the record cannot be serialized: no callback follows
            records.labelValues(kind, "failed").inc();
            stored.accept(false);
            return false;
        }
        // a record Kafka stored is done only after a round trip; done at once means failed at once
        if (sent.isDone()) {
            try {
                sent.get();
            } catch (ExecutionException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** Gives records in flight up to {@code timeout} to be stored, then closes the producer. */
    public void close(Duration timeout) {
        producer.close(timeout);
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(2));
    }
}
