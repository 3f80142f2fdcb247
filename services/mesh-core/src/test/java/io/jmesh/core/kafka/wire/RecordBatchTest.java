package io.jmesh.core.kafka.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.kafka.EventSink.Completion;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.kafka.common.record.CompressionType;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.MutableRecordBatch;
import org.apache.kafka.common.record.Record;
import org.junit.jupiter.api.Test;

/** Our record batches, read back by Kafka's own record classes (the broker's parser), checksum included. */
class RecordBatchTest {

    private static final Completion IGNORED = failure -> { };

    @Test
    void kafkaReadsOurBatchWithItsProducerIdSequenceAndRecords() {
        RecordBatch batch = new RecordBatch(2, 64 * 1024, System.nanoTime(), 1_000_000_000L);
        Random random = new Random(7);
        List<byte[]> keys = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        long t0 = 1_765_000_000_000L;
        for (int i = 0; i < 300; i++) {
            byte[] key = i % 3 == 0 ? null : ("key-" + i).getBytes(StandardCharsets.UTF_8);
            byte[] value = new byte[random.nextInt(i % 50 == 0 ? 3000 : 200)];
            random.nextBytes(value);
            keys.add(key);
            values.add(value);
            // timestamps out of order too: deltas may be negative
            batch.add(key, value, t0 + (i % 7 == 0 ? -5 : i), IGNORED);
        }
        batch.stamp(4711L, (short) 3, Integer.MAX_VALUE - 100);

        MemoryRecords records = MemoryRecords.readableRecords(
                ByteBuffer.wrap(batch.array(), 0, batch.sizeBytes()));
        List<MutableRecordBatch> batches = new ArrayList<>();
        records.batches().forEach(batches::add);
        assertThat(batches).hasSize(1);
        MutableRecordBatch b = batches.get(0);
        b.ensureValid(); // CRC-32C and sizes
        assertThat(b.magic()).isEqualTo(org.apache.kafka.common.record.RecordBatch.MAGIC_VALUE_V2);
        assertThat(b.compressionType()).isEqualTo(CompressionType.NONE);
        assertThat(b.producerId()).isEqualTo(4711L);
        assertThat(b.producerEpoch()).isEqualTo((short) 3);
        assertThat(b.baseSequence()).isEqualTo(Integer.MAX_VALUE - 100);
        assertThat(b.lastSequence()).as("wraps past Integer.MAX_VALUE as Kafka's does").isEqualTo(198);
        assertThat(WireProducer.nextSequence(Integer.MAX_VALUE - 100, 300)).isEqualTo(199);
        assertThat(b.isTransactional()).isFalse();
        assertThat(b.maxTimestamp()).isEqualTo(t0 + 299);
        assertThat(b.countOrNull()).isEqualTo(300);

        int i = 0;
        for (Record r : b) {
            assertThat(r.offset()).isEqualTo(i);
            assertThat(r.timestamp()).isEqualTo(t0 + (i % 7 == 0 ? -5 : i));
            if (keys.get(i) == null) {
                assertThat(r.hasKey()).isFalse();
            } else {
                assertThat(bytes(r.key())).isEqualTo(keys.get(i));
            }
            assertThat(bytes(r.value())).isEqualTo(values.get(i));
            assertThat(r.headers()).isEmpty();
            r.ensureValid();
            i++;
        }
        assertThat(i).isEqualTo(300);
    }

    @Test
    void aBatchClosesAtItsSizeButAlwaysTakesOneRecord() {
        RecordBatch batch = new RecordBatch(0, 1024, 0, 1);
        byte[] big = new byte[5000];
        assertThat(batch.fits(null, big)).as("an empty batch takes any record").isTrue();
        batch.add(null, big, 1, IGNORED);
        assertThat(batch.isClosed()).isTrue();
        assertThat(batch.fits(null, new byte[1])).isFalse();

        RecordBatch small = new RecordBatch(0, 1024, 0, 1);
        int n = 0;
        while (small.fits(null, new byte[100])) {
            small.add(null, new byte[100], 1, IGNORED);
            n++;
        }
        assertThat(small.sizeBytes()).isLessThanOrEqualTo(1024);
        assertThat(n).isBetween(7, 9);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
