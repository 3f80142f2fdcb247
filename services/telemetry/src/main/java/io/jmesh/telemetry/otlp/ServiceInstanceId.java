package io.jmesh.telemetry.otlp;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.UUID;

/**
 * The OTLP resource attribute {@code service.instance.id}, as OpenTelemetry's semantic conventions ask for it: a
 * replica with an inherent unique name (its pod's) exports under the UUID v5 of that name in the conventions'
 * namespace, the same in every process of the pod (its cumulative series go on after a restart, with a new start
 * time, instead of a new set of series being left behind each time), and without exposing the name itself; a
 * replica without one under a random UUID v4 per process.
 */
final class ServiceInstanceId {

    /** The namespace the semantic conventions give for a {@code service.instance.id} derived from a name. */
    static final UUID NAMESPACE = UUID.fromString("4d63009a-8d0f-11ee-aad7-4c796ed8e320");

    private ServiceInstanceId() {}

    /** The id for this inherent unique name; empty: a random one. */
    static String of(String name) {
        return name.isEmpty() ? UUID.randomUUID().toString() : nameBased(NAMESPACE, name).toString();
    }

    /** RFC 4122 section 4.3, version 5: SHA-1 of the namespace's 16 bytes and the name's UTF-8. */
    static UUID nameBased(UUID namespace, String name) {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1, which every Java runtime has, is missing", e);
        }
        sha1.update(ByteBuffer.allocate(16).putLong(namespace.getMostSignificantBits())
                .putLong(namespace.getLeastSignificantBits()).array());
        byte[] hash = sha1.digest(name.getBytes(StandardCharsets.UTF_8));
        hash[6] = (byte) ((hash[6] & 0x0f) | 0x50); // version 5
        hash[8] = (byte) ((hash[8] & 0x3f) | 0x80); // the RFC 4122 variant
        ByteBuffer b = ByteBuffer.wrap(hash, 0, 16);
        return new UUID(b.getLong(), b.getLong());
    }
}
