package io.jmesh.proto;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A tiny protobuf wire-format writer that knows nothing about generated code: it writes tags,
 * varints and length-delimited fields exactly as the encoding spec describes them, so tests can
 * build the bytes a peer (ztunnel, istiod, Envoy) would send from the documented field numbers
 * alone.
 *
 * <p>Fields are written in call order; write them in ascending field number to get the canonical
 * order protobuf-java itself produces.
 */
final class Wire {

    static final int VARINT = 0;
    static final int LEN = 2;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static Wire msg() {
        return new Wire();
    }

    /** A field key: (field number << 3) | wire type, as a varint. */
    Wire tag(int field, int wireType) {
        return rawVarint(((long) field << 3) | wireType);
    }

    /** An int32/int64/uint32/uint64/bool/enum field. Negative values take ten bytes, as on the wire. */
    Wire varint(int field, long value) {
        return tag(field, VARINT).rawVarint(value);
    }

    Wire bool(int field, boolean value) {
        return varint(field, value ? 1 : 0);
    }

    Wire string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    Wire bytes(int field, byte[] value) {
        tag(field, LEN).rawVarint(value.length);
        out.writeBytes(value);
        return this;
    }

    /** An embedded message (length-delimited). */
    Wire message(int field, Wire nested) {
        return bytes(field, nested.toByteArray());
    }

    /** A packed repeated varint field (proto3's default encoding for repeated scalars). */
    Wire packedVarints(int field, long... values) {
        Wire body = msg();
        for (long v : values) {
            body.rawVarint(v);
        }
        return bytes(field, body.toByteArray());
    }

    /** One entry of a {@code map<string, string>} field: a message {key = 1, value = 2}. */
    Wire mapEntry(int field, String key, String value) {
        return message(field, msg().string(1, key).string(2, value));
    }

    /** One entry of a {@code map<string, Message>} field. */
    Wire mapEntry(int field, String key, Wire value) {
        return message(field, msg().string(1, key).message(2, value));
    }

    private Wire rawVarint(long value) {
        long v = value;
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
        return this;
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }
}
