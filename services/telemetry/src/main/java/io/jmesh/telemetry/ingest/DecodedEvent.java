package io.jmesh.telemetry.ingest;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;

/** What a record turned out to be. */
public sealed interface DecodedEvent {

    /** An L4 event from the connection topic. */
    record Connection(ConnectionEvent event) implements DecodedEvent {}

    /** An L7 event from the request topic. */
    record Request(RequestEvent event) implements DecodedEvent {}

    /**
     * A record that cannot be counted; it goes to the dead-letter topic.
     *
     * @param reason short label value: {@code empty_record}, {@code undecodable}, {@code unknown_schema_version},
     *     {@code invalid_field}, {@code unknown_topic}
     * @param detail what exactly is wrong, for operators
     */
    record Rejected(String reason, String detail) implements DecodedEvent {}
}
