package io.jmesh.policy.resource;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Timestamp;
import io.jmesh.proto.config.v1.ObjectMeta;
import java.time.Instant;
import java.time.format.DateTimeParseException;

/**
 * An object's {@code metadata.creationTimestamp} (set by the API server; RFC 3339), kept for the kinds whose age
 * decides something: which ServiceEntry keeps a VIP, which of competing PeerAuthentications applies (istiod: the
 * oldest). Objects of manifest files usually have none: among those, name order decides.
 */
final class CreationTimestamp {

    private CreationTimestamp() {}

    /** {@code meta} with the creation time in {@code metadata}, when it has one; a bad one is left out, warned. */
    static ObjectMeta read(ObjectMeta meta, JsonNode metadata, Problems p) {
        JsonNode created = metadata.get("creationTimestamp");
        if (created == null || created.isNull()) {
            return meta;
        }
        try {
            Instant t = Instant.parse(created.asText());
            return meta.toBuilder().setCreationTimestamp(Timestamp.newBuilder()
                    .setSeconds(t.getEpochSecond()).setNanos(t.getNano())).build();
        } catch (DateTimeParseException e) {
            p.warn("metadata.creationTimestamp '" + created.asText() + "' is left out: not an RFC 3339 time");
            return meta;
        }
    }
}
