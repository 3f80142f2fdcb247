package io.jmesh.loadtest.ztunnel;

import io.jmesh.kafkalocal.LocalKafka;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * The Kafka broker the ztunnels send their connection events to when they run as deployed: a real single-node
 * KRaft broker (C1 only and a 256 MiB heap, so it takes little of the machine the measurement runs on), with the
 * events topic created up front as the telemetry service creates it, so no producer starts on a missing topic.
 */
final class BenchKafka implements AutoCloseable {

    private final LocalKafka broker;

    private BenchKafka(LocalKafka broker) {
        this.broker = broker;
    }

    static BenchKafka start(Path dataDir) throws Exception {
        LocalKafka broker = LocalKafka.builder().dataDir(dataDir).heap("256m").build().start();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic(ConnectionTelemetry.TOPIC, 3, (short) 1))).all()
                    .get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            broker.close();
            throw e;
        }
        return new BenchKafka(broker);
    }

    /** CPU seconds the broker has used (user + system), 0 when it cannot be read. */
    double cpuSeconds() {
        return broker.process().flatMap(p -> p.info().totalCpuDuration()).map(d -> d.toNanos() / 1e9).orElse(0.0);
    }

    String bootstrapServers() {
        return broker.bootstrapServers();
    }

    @Override
    public void close() {
        broker.close();
    }
}
