package io.jmesh.core.kafka.wire;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Reads Kafka's non-flexible wire types from one response body; a short body fails as {@link MalformedResponse}. */
final class ProtocolReader {

    /** A response that does not parse as the version asked for. */
    static final class MalformedResponse extends java.io.IOException {
        MalformedResponse(String message) {
            super(message);
        }
    }

    private final ByteBuffer buf;
    private final String source;

    /** @param source who sent the bytes and in answer to what, for error messages */
    ProtocolReader(byte[] bytes, int offset, int length, String source) {
        this.buf = ByteBuffer.wrap(bytes, offset, length);
        this.source = source;
    }

    byte int8() throws MalformedResponse {
        try {
            return buf.get();
        } catch (BufferUnderflowException e) {
            throw truncated();
        }
    }

    boolean bool() throws MalformedResponse {
        return int8() != 0;
    }

    short int16() throws MalformedResponse {
        try {
            return buf.getShort();
        } catch (BufferUnderflowException e) {
            throw truncated();
        }
    }

    int int32() throws MalformedResponse {
        try {
            return buf.getInt();
        } catch (BufferUnderflowException e) {
            throw truncated();
        }
    }

    long int64() throws MalformedResponse {
        try {
            return buf.getLong();
        } catch (BufferUnderflowException e) {
            throw truncated();
        }
    }

    /** A nullable string (length -1 is null). */
    String string() throws MalformedResponse {
        int len = int16();
        if (len < 0) {
            return null;
        }
        if (len > buf.remaining()) {
            throw truncated();
        }
        String s = new String(buf.array(), buf.arrayOffset() + buf.position(), len, StandardCharsets.UTF_8);
        buf.position(buf.position() + len);
        return s;
    }

    /** An array's element count; a null array (-1) reads as empty. */
    int arrayLength() throws MalformedResponse {
        int n = int32();
        if (n > buf.remaining()) {
            throw new MalformedResponse(source + ": array of " + n + " elements in " + buf.remaining() + " bytes");
        }
        return Math.max(0, n);
    }

    void skipInt32Array() throws MalformedResponse {
        int n = arrayLength();
        if (n * 4L > buf.remaining()) {
            throw truncated();
        }
        buf.position(buf.position() + n * 4);
    }

    private MalformedResponse truncated() {
        return new MalformedResponse(source + ": response ends early at byte " + buf.position());
    }
}
