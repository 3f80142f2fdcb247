package io.jmesh.core.kafka.wire;

import io.jmesh.core.kafka.EventSink.Completion;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * One partition's records on their way to the broker, in Kafka's record batch format v2 (magic 2, uncompressed).
 * Records are encoded as they are added; the 61-byte header, which carries the producer id, epoch and first
 * sequence number and a CRC-32C over everything after the CRC, is written when the batch is stamped for sending.
 * A batch is stamped once and resent unchanged (same sequence), so the broker can recognise a retry of a batch
 * it already stored; only a producer reset stamps it again.
 */
final class RecordBatch {

    static final int HEADER_BYTES = 61;
    private static final int CRC_AT = 17;
    private static final int ATTRIBUTES_AT = 21;
    /** Kafka's per-record overhead bound (length, attributes, deltas, key/value lengths, header count). */
    private static final int RECORD_OVERHEAD_MAX = 5 + 1 + 10 + 5 + 5 + 5 + 1;

    final int partition;
    final long createdNanos;
    final long deadlineNanos;
    private final int maxBytes;
    private final ProtocolWriter out;
    private final List<Completion> completions = new ArrayList<>();
    private int count;
    private long baseTimestamp;
    private long maxTimestamp;
    private boolean closed;

    /** Producer id the batch was stamped with, -1 before its first stamp. */
    long stampedProducerId = -1;
    int sequence;
    int attempts;
    long retryAtNanos;
    /** Sent, and neither answered nor failed yet: not sent again, not expired meanwhile. */
    boolean inFlight;
    /** What the producer counts against its bound for this batch's records. */
    long heldBytes;

    /** @param deadlineNanos when the batch fails unless acknowledged (its first record's delivery deadline) */
    RecordBatch(int partition, int maxBytes, long nowNanos, long deadlineNanos) {
        this.partition = partition;
        this.maxBytes = maxBytes;
        this.createdNanos = nowNanos;
        this.deadlineNanos = deadlineNanos;
        this.out = new ProtocolWriter(Math.min(maxBytes, 1024));
        out.raw(new byte[HEADER_BYTES], 0, HEADER_BYTES);
    }

    /** Bytes a record adds at most, so a caller can tell whether it still fits. */
    static int recordBytesMax(byte[] key, byte[] value) {
        return RECORD_OVERHEAD_MAX + (key == null ? 0 : key.length) + value.length;
    }

    /** Whether the record fits: an empty batch takes any one record, however large. */
    boolean fits(byte[] key, byte[] value) {
        return !closed && (count == 0 || out.size() + recordBytesMax(key, value) <= maxBytes);
    }

    boolean isClosed() {
        return closed;
    }

    /** No more records: the batch leaves with its next send. */
    void close() {
        closed = true;
    }

    int count() {
        return count;
    }

    int sizeBytes() {
        return out.size();
    }

    void add(byte[] key, byte[] value, long timestampMs, Completion completion) {
        if (count == 0) {
            baseTimestamp = timestampMs;
        }
        maxTimestamp = Math.max(maxTimestamp, timestampMs);
        long timestampDelta = timestampMs - baseTimestamp;
        int keyLength = key == null ? -1 : key.length;
        int bodyBytes = 1 + ProtocolWriter.sizeOfVarlong(timestampDelta) + ProtocolWriter.sizeOfVarint(count)
                + ProtocolWriter.sizeOfVarint(keyLength) + Math.max(0, keyLength)
                + ProtocolWriter.sizeOfVarint(value.length) + value.length + 1;
        out.varint(bodyBytes).int8(0).varlong(timestampDelta).varint(count).varint(keyLength);
        if (key != null) {
            out.raw(key, 0, key.length);
        }
        out.varint(value.length).raw(value, 0, value.length).varint(0);
        completions.add(completion);
        count++;
        closed |= out.size() >= maxBytes;
    }

    /**
     * Writes the header for this producer id, epoch and first sequence and the CRC over the batch. Closes the batch:
     * a stamped batch never changes again.
     */
    void stamp(long producerId, short epoch, int firstSequence) {
        closed = true;
        stampedProducerId = producerId;
        sequence = firstSequence;
        ProtocolWriter h = new ProtocolWriter(HEADER_BYTES);
        h.int64(0) // base offset: the broker assigns it
                .int32(out.size() - 12) // batch length: everything after this field
                .int32(-1) // partition leader epoch: the broker's to set
                .int8(2) // magic
                .int32(0) // CRC, below
                .int16(0) // attributes: no compression, no transaction, create time
                .int32(count - 1) // last offset delta
                .int64(baseTimestamp).int64(maxTimestamp)
                .int64(producerId).int16(epoch).int32(firstSequence)
                .int32(count);
        System.arraycopy(h.array(), 0, out.array(), 0, HEADER_BYTES);
        CRC32C crc = new CRC32C();
        crc.update(out.array(), ATTRIBUTES_AT, out.size() - ATTRIBUTES_AT);
        out.putInt32(CRC_AT, (int) crc.getValue());
    }

    /** The stamped batch: {@code array()[0, sizeBytes())}. */
    byte[] array() {
        return out.array();
    }

    /** Runs every record's completion: {@code failure} null for acknowledged. */
    void complete(Exception failure) {
        for (Completion c : completions) {
            c.done(failure);
        }
    }
}
