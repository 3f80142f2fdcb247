package io.jmesh.telemetry;

import com.google.protobuf.MessageLite;
import io.jmesh.testing.KafkaExtension;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Produces event records to a real broker, synchronously (each send acknowledged). */
public final class EventProducer implements AutoCloseable {

    private final KafkaProducer<byte[], byte[]> producer;

    public EventProducer(KafkaExtension kafka) {
        Map<String, Object> c = new HashMap<>(kafka.producerConfig(ByteArraySerializer.class, ByteArraySerializer.class));
        this.producer = new KafkaProducer<>(c);
    }

    public void send(String topic, String key, MessageLite event) {
        send(topic, key, event.toByteArray());
    }

    public void send(String topic, String key, byte[] value) {
        send(topic, null, key, value);
    }

    /** Sends to {@code partition} (null: by key); a null {@code value} is a tombstone. */
    public void send(String topic, Integer partition, String key, byte[] value) {
        try {
            producer.send(new ProducerRecord<>(topic, partition, key.getBytes(StandardCharsets.UTF_8), value))
                    .get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("send to " + topic + " failed: " + e, e);
        }
    }

    /** Sends without waiting, then flushes: for volume. */
    public void sendAll(String topic, Iterable<? extends Map.Entry<String, ? extends MessageLite>> events) {
        for (Map.Entry<String, ? extends MessageLite> e : events) {
            producer.send(new ProducerRecord<>(topic, e.getKey().getBytes(StandardCharsets.UTF_8),
                    e.getValue().toByteArray()));
        }
        producer.flush();
    }

    @Override
    public void close() {
        producer.close();
    }
}
