package io.jmesh.ca.placement;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.testing.KafkaExtension;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * While the config log is replayed, it still holds versions of objects that later records change or delete (the
 * active segment is never compacted): a placement built from part of the replay authorizes nodes that no longer
 * run the workload.
 */
@Timeout(180)
class ConfigLogPlacementReplayTest {

    static final String TOPIC = KafkaExtension.uniqueTopic("config");
    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static ConfigRecord workload(String name, String sa, String node) {
        return ConfigRecord.newBuilder().setSchemaVersion(1).setKind("WorkloadEntry")
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName(name).setUid("default-" + name))
                .setWorkloadEntry(WorkloadEntrySpec.newBuilder().setAddress("127.0.10.11").setNode(node)
                        .setServiceAccount(sa)).build();
    }

    @Test
    void aWorkloadThatMovedIsNeverPlacedOnItsOldNodeDuringTheReplay() throws Exception {
        kafka.createTopic(TOPIC, 1, true);
        try (ConfigLogWriter writer = new ConfigLogWriter(kafka.bootstrapServers(), TOPIC, "test-writer")) {
            writer.put(workload("sleep-1", "sleep", "node-a"));
            // enough other objects that the replay takes several batches (500 records each by default)
            for (int i = 0; i < 3000; i++) {
                writer.put(workload("other-" + i, "other", ""));
            }
            writer.put(workload("sleep-1", "sleep", "node-b")).get(60, TimeUnit.SECONDS);
        }
        boolean seenOnOldNode = false;
        try (ConfigLogPlacement placement = ConfigLogPlacement.start(kafka.bootstrapServers(), TOPIC,
                "cluster.local", "test-placement", new PrometheusRegistry())) {
            CompletableFuture<?> ready = placement.ready().toCompletableFuture();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!ready.isDone() && System.nanoTime() < deadline) {
                seenOnOldNode |= placement.current().scheduled("node-a", SLEEP);
            }
            ready.get(1, TimeUnit.SECONDS);
            assertThat(placement.current().scheduled("node-b", SLEEP)).isTrue();
            assertThat(placement.current().scheduled("node-a", SLEEP)).isFalse();
        }
        assertThat(seenOnOldNode).as("sleep placed on node-a, which it left, while the log was replayed").isFalse();
    }
}
