package io.jmesh.telemetry.ingest;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;

/**
 * Decodes and validates event records. Never throws: a record that cannot be counted comes back as
 * {@link DecodedEvent.Rejected} with a reason and a precise detail.
 */
public final class EventDecoder {

    /** The only payload schema version this reader knows. */
    public static final int SCHEMA_VERSION = 1;

    /** Every reason a record of a known topic can be rejected for (the {@code reason} label of dead letters). */
    static final java.util.List<String> REJECTION_REASONS =
            java.util.List.of("empty_record", "invalid_field", "undecodable", "unknown_schema_version");

    private final String connectionTopic;
    private final String requestTopic;

    public EventDecoder(String connectionTopic, String requestTopic) {
        this.connectionTopic = connectionTopic;
        this.requestTopic = requestTopic;
    }

    public DecodedEvent decode(String topic, byte[] value) {
        if (value == null || value.length == 0) {
            return new DecodedEvent.Rejected("empty_record", "record value is empty (expected: a protobuf event)");
        }
        try {
            if (topic.equals(connectionTopic)) {
                ConnectionEvent e = ConnectionEvent.parseFrom(value);
                if (e.getSchemaVersion() != SCHEMA_VERSION) {
                    return unknownSchema("ConnectionEvent", e.getSchemaVersion());
                }
                if (e.getKind() != ConnectionEvent.Kind.OPENED && e.getKind() != ConnectionEvent.Kind.CLOSED) {
                    return new DecodedEvent.Rejected("invalid_field",
                            "ConnectionEvent.kind: " + e.getKind() + " (expected: OPENED or CLOSED)");
                }
                return new DecodedEvent.Connection(e);
            }
            if (topic.equals(requestTopic)) {
                RequestEvent e = RequestEvent.parseFrom(value);
                if (e.getSchemaVersion() != SCHEMA_VERSION) {
                    return unknownSchema("RequestEvent", e.getSchemaVersion());
                }
                if (e.getResponseCode() > 999) {
                    return new DecodedEvent.Rejected("invalid_field",
                            "RequestEvent.response_code: " + e.getResponseCode() + " (expected: 0..999)");
                }
                return new DecodedEvent.Request(e);
            }
            return new DecodedEvent.Rejected("unknown_topic", "topic: " + topic + " (expected: " + connectionTopic
                    + " or " + requestTopic + ")");
        } catch (InvalidProtocolBufferException e) {
            return new DecodedEvent.Rejected("undecodable", "not a protobuf event: " + e.getMessage());
        }
    }

    private static DecodedEvent unknownSchema(String type, int version) {
        return new DecodedEvent.Rejected("unknown_schema_version",
                type + ".schema_version: " + version + " (expected: " + SCHEMA_VERSION + ")");
    }
}
