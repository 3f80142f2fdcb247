package io.jmesh.telemetry.ingest;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import io.jmesh.proto.telemetry.v1.ServiceInfo;
import io.jmesh.proto.telemetry.v1.WorkloadInfo;

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

    /**
     * The longest value of a field that becomes a metric label. Kubernetes names, hostnames and SPIFFE ids are far
     * shorter; a longer value is a bug or an attack, would bloat every series and checkpoint it is in, and one over
     * 65535 bytes cannot be written to a checkpoint at all.
     */
    public static final int MAX_LABEL_LENGTH = 1024;

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
                if (e.getKind() != ConnectionEvent.Kind.OPENED && e.getKind() != ConnectionEvent.Kind.CLOSED
                        && e.getKind() != ConnectionEvent.Kind.PROGRESS) {
                    return new DecodedEvent.Rejected("invalid_field", "ConnectionEvent.kind: " + e.getKind()
                            + " (expected: OPENED, CLOSED or PROGRESS)");
                }
                String bad = reporter("ConnectionEvent", e.getReporter(), e.getReporterValue());
                if (bad == null) {
                    bad = labels("ConnectionEvent", e.getSource(), e.getDestination(), e.getDestinationService(),
                            e.getResponseFlags());
                }
                if (bad == null) {
                    bad = nonNegative("ConnectionEvent.bytes_sent", e.getBytesSent());
                }
                if (bad == null) {
                    bad = nonNegative("ConnectionEvent.bytes_received", e.getBytesReceived());
                }
                if (bad == null) {
                    bad = reported(e);
                }
                if (bad != null) {
                    return new DecodedEvent.Rejected("invalid_field", bad);
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
                String bad = reporter("RequestEvent", e.getReporter(), e.getReporterValue());
                if (bad == null && e.getProtocol() == RequestEvent.Protocol.UNRECOGNIZED) {
                    // unspecified is http (what a waypoint sees at least); a newer writer's protocol is not
                    bad = "RequestEvent.protocol: " + e.getProtocolValue() + " (expected: HTTP or GRPC)";
                }
                if (bad == null) {
                    bad = labels("RequestEvent", e.getSource(), e.getDestination(), e.getDestinationService(),
                            e.getResponseFlags());
                }
                if (bad == null) {
                    bad = nonNegative("RequestEvent.request_bytes", e.getRequestBytes());
                }
                if (bad == null) {
                    bad = nonNegative("RequestEvent.response_bytes", e.getResponseBytes());
                }
                if (bad == null && (e.getDuration().getSeconds() < 0 || e.getDuration().getNanos() < 0)) {
                    bad = "RequestEvent.duration: " + e.getDuration().getSeconds() + "s " + e.getDuration().getNanos()
                            + "ns (expected: >= 0)";
                }
                if (bad != null) {
                    return new DecodedEvent.Rejected("invalid_field", bad);
                }
                return new DecodedEvent.Request(e);
            }
            return new DecodedEvent.Rejected("unknown_topic", "topic: " + topic + " (expected: " + connectionTopic
                    + " or " + requestTopic + ")");
        } catch (InvalidProtocolBufferException e) {
            return new DecodedEvent.Rejected("undecodable", "not a protobuf event: " + e.getMessage());
        }
    }

    /**
     * What is wrong with the reporter, or null. Istio's {@code reporter} is source, destination or waypoint; a
     * series with {@code reporter="unknown"} is one no query selects (they all filter on it) and the service graph
     * cannot place, so an event without one (or with one of a newer writer) is refused rather than counted there.
     */
    private static String reporter(String type, Reporter r, int value) {
        return switch (r) {
            case SOURCE, DESTINATION, WAYPOINT -> null;
            default -> type + ".reporter: " + (r == Reporter.UNRECOGNIZED ? Integer.toString(value) : r.name())
                    + " (expected: SOURCE, DESTINATION or WAYPOINT)";
        };
    }

    /** What is wrong with the fields that become labels, or null. */
    private static String labels(String type, WorkloadInfo src, WorkloadInfo dst, ServiceInfo svc, String flags) {
        String bad = workload(type + ".source", src);
        if (bad == null) {
            bad = workload(type + ".destination", dst);
        }
        if (bad == null) {
            bad = label(type + ".destination_service.hostname", svc.getHostname());
        }
        if (bad == null) {
            bad = label(type + ".destination_service.name", svc.getName());
        }
        if (bad == null) {
            bad = label(type + ".destination_service.namespace", svc.getNamespace());
        }
        return bad != null ? bad : label(type + ".response_flags", flags);
    }

    private static String workload(String field, WorkloadInfo w) {
        String[][] values = {{"name", w.getName()}, {"workload_name", w.getWorkloadName()},
            {"namespace", w.getNamespace()}, {"principal", w.getPrincipal()}, {"app", w.getApp()},
            {"version", w.getVersion()}, {"canonical_service", w.getCanonicalService()},
            {"canonical_revision", w.getCanonicalRevision()}, {"cluster", w.getCluster()}};
        for (String[] v : values) {
            String bad = label(field + "." + v[0], v[1]);
            if (bad != null) {
                return bad;
            }
        }
        return null;
    }

    /**
     * What is wrong with a value that becomes a label, or null. A NUL is refused: no Kubernetes name, SPIFFE id or
     * response flag has one, and a series key holds it for a label left out of the exposition
     * ({@code RemovedLabels.VALUE}), so a value of NUL would be served without its label and read back from a
     * checkpoint as {@code unknown}, its counts moving to another series.
     */
    private static String label(String field, String value) {
        if (value.length() > MAX_LABEL_LENGTH) {
            return field + ": " + value.length() + " characters (expected: at most " + MAX_LABEL_LENGTH + ")";
        }
        int nul = value.indexOf('\0');
        return nul < 0 ? null : field + ": NUL at character " + nul + " (expected: no NUL)";
    }

    /** A uint64 read into a Java long: above {@link Long#MAX_VALUE} it is negative and cannot be summed. */
    private static String nonNegative(String field, long value) {
        return value >= 0 ? null : field + ": " + Long.toUnsignedString(value) + " (expected: <= " + Long.MAX_VALUE
                + ")";
    }

    /**
     * What is wrong with the bytes a connection's PROGRESS events carried ({@code reported_bytes_*}), or null: on a
     * CLOSED they are part of its totals, so never more (the rest would be negative).
     */
    private static String reported(ConnectionEvent e) {
        String bad = nonNegative("ConnectionEvent.reported_bytes_sent", e.getReportedBytesSent());
        if (bad == null) {
            bad = nonNegative("ConnectionEvent.reported_bytes_received", e.getReportedBytesReceived());
        }
        if (bad == null && e.getKind() == ConnectionEvent.Kind.CLOSED) {
            if (e.getReportedBytesSent() > e.getBytesSent()) {
                bad = "ConnectionEvent.reported_bytes_sent: " + e.getReportedBytesSent() + " (expected: <= bytes_sent "
                        + e.getBytesSent() + " on CLOSED)";
            } else if (e.getReportedBytesReceived() > e.getBytesReceived()) {
                bad = "ConnectionEvent.reported_bytes_received: " + e.getReportedBytesReceived()
                        + " (expected: <= bytes_received " + e.getBytesReceived() + " on CLOSED)";
            }
        }
        return bad;
    }

    private static DecodedEvent unknownSchema(String type, int version) {
        return new DecodedEvent.Rejected("unknown_schema_version",
                type + ".schema_version: " + version + " (expected: " + SCHEMA_VERSION + ")");
    }
}
