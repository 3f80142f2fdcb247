package io.jmesh.core.kafka.wire;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes Kafka's wire types (big-endian integers, int16-length strings, zig-zag varints) into a growable array
 * that is reused from one request to the next.
 */
final class ProtocolWriter {

    private byte[] bytes;
    private int size;

    ProtocolWriter(int initialCapacity) {
        this.bytes = new byte[Math.max(16, initialCapacity)];
    }

    int size() {
        return size;
    }

    byte[] array() {
        return bytes;
    }

    void reset() {
        size = 0;
    }

    ProtocolWriter int8(int v) {
        ensure(1);
        bytes[size++] = (byte) v;
        return this;
    }

    ProtocolWriter int16(int v) {
        ensure(2);
        bytes[size++] = (byte) (v >>> 8);
        bytes[size++] = (byte) v;
        return this;
    }

    ProtocolWriter int32(int v) {
        ensure(4);
        putInt32(size, v);
        size += 4;
        return this;
    }

    ProtocolWriter int64(long v) {
        int32((int) (v >>> 32));
        return int32((int) v);
    }

    /** Overwrites four bytes already written (a length or checksum known only later). */
    void putInt32(int at, int v) {
        bytes[at] = (byte) (v >>> 24);
        bytes[at + 1] = (byte) (v >>> 16);
        bytes[at + 2] = (byte) (v >>> 8);
        bytes[at + 3] = (byte) v;
    }

    ProtocolWriter string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > Short.MAX_VALUE) {
            throw new IllegalArgumentException("string longer than 32767 bytes: " + b.length);
        }
        int16(b.length);
        return raw(b, 0, b.length);
    }

    /** A nullable string: length -1 for null. */
    ProtocolWriter nullableString(String s) {
        return s == null ? int16(-1) : string(s);
    }

    ProtocolWriter raw(byte[] b, int off, int len) {
        ensure(len);
        System.arraycopy(b, off, bytes, size, len);
        size += len;
        return this;
    }

    /** A signed varint, zig-zag encoded as Kafka's record fields are. */
    ProtocolWriter varint(int v) {
        return unsignedVarlong(((v << 1) ^ (v >> 31)) & 0xFFFFFFFFL);
    }

    /** A signed varlong, zig-zag encoded. */
    ProtocolWriter varlong(long v) {
        return unsignedVarlong((v << 1) ^ (v >> 63));
    }

    private ProtocolWriter unsignedVarlong(long v) {
        ensure(10);
        while ((v & ~0x7FL) != 0) {
            bytes[size++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        bytes[size++] = (byte) v;
        return this;
    }

    static int sizeOfVarint(int v) {
        return sizeOfUnsignedVarlong(((v << 1) ^ (v >> 31)) & 0xFFFFFFFFL);
    }

    static int sizeOfVarlong(long v) {
        return sizeOfUnsignedVarlong((v << 1) ^ (v >> 63));
    }

    private static int sizeOfUnsignedVarlong(long v) {
        int n = 1;
        while ((v & ~0x7FL) != 0) {
            n++;
            v >>>= 7;
        }
        return n;
    }

    private void ensure(int more) {
        if (size + more > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(size + more, bytes.length * 2));
        }
    }
}
