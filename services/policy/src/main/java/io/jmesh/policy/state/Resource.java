package io.jmesh.policy.state;

import com.google.protobuf.Any;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Message;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * One xDS resource as discovery sends it: its name, a version derived from its content (so every replica
 * computes the same version for the same content), the packed body, and the delta-xDS {@code Resource} wrapping
 * them, built once and shared by every stream that sends it.
 */
public record Resource(String name, String version, Any body,
        io.jmesh.proto.envoy.service.discovery.v3.Resource wire) {

    public static Resource of(String name, String typeUrl, Message message) {
        byte[] bytes = deterministic(message);
        Any any = Any.newBuilder().setTypeUrl(typeUrl).setValue(com.google.protobuf.ByteString.copyFrom(bytes)).build();
        String version = Long.toHexString(fnv1a(bytes));
        return new Resource(name, version, any, io.jmesh.proto.envoy.service.discovery.v3.Resource.newBuilder()
                .setName(name).setVersion(version).setResource(any).build());
    }

    private static byte[] deterministic(Message m) {
        byte[] out = new byte[m.getSerializedSize()];
        CodedOutputStream cos = CodedOutputStream.newInstance(out);
        cos.useDeterministicSerialization();
        try {
            m.writeTo(cos);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private static long fnv1a(byte[] bytes) {
        long h = 0xcbf29ce484222325L;
        for (byte b : bytes) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }
}
