package io.jmesh.core.kafka.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;

class KeyPartitionerTest {

    @Test
    void picksThePartitionKafkasJavaProducerPicks() {
        Random random = new Random(11);
        for (int i = 0; i < 20_000; i++) {
            byte[] key = new byte[random.nextInt(64)];
            random.nextBytes(key);
            int partitions = 1 + random.nextInt(40);
            assertThat(KeyPartitioner.murmur2(key)).isEqualTo(Utils.murmur2(key));
            assertThat(KeyPartitioner.partition(key, partitions))
                    .isEqualTo(BuiltInPartitioner.partitionForKey(key, partitions));
        }
    }
}
