package io.jmesh.core.kafka;

import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Events through Kafka's Java producer, which batches and sends on its own network thread: for services that load
 * Kafka's client anyway (ca). ztunnel uses {@link io.jmesh.core.kafka.wire.WireProducer} instead.
 */
final class KafkaClientSink implements EventSink {

    private final Producer<byte[], byte[]> producer;

    KafkaClientSink(Producer<byte[], byte[]> producer) {
        this.producer = producer;
    }

    static KafkaClientSink create(KafkaSettings settings, String clientId) {
        // idempotent: a batch retried after a lost acknowledgement is written once, so telemetry, which counts
        // each stored event exactly once, never counts a connection twice; blocked sends only stall the sender
        // thread, and are kept short (a second) so that a dead Kafka drains the queue into drops. Batches linger
        // 50 ms (up to 64 KiB): events are counted into metrics scraped every few seconds
        Properties p = settings.idempotentProducer(clientId);
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        p.put(ProducerConfig.LINGER_MS_CONFIG, (int) KafkaSettings.LINGER.toMillis());
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, KafkaSettings.BATCH_BYTES);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        return new KafkaClientSink(new KafkaProducer<>(p));
    }

    @Override
    public void send(String topic, byte[] key, byte[] value, Completion completion) {
        producer.send(new ProducerRecord<>(topic, key, value), (md, err) -> completion.done(err));
    }

    @Override
    public void close(Duration timeout) {
        producer.close(timeout);
    }

    @Override
    public void abort() {
        producer.close(Duration.ZERO);
    }
}
