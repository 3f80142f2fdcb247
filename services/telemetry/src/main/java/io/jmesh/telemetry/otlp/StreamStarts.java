package io.jmesh.telemetry.otlp;

import io.jmesh.telemetry.aggregate.SeriesKey;
import java.util.HashMap;
import java.util.Map;

/**
 * The start time of each exported stream (a series of one partition), as OTLP's data model defines it for
 * cumulative sums. A replica does not know when the totals it serves began: they come from a checkpoint after a
 * restart or with a partition handed over. So the first point of a stream is a reset point of unknown start (start
 * time = its time: a consumer adds nothing for it), and the next points repeat that start. A stream missing from an
 * export (its series expired, its partition left) is forgotten: if it comes back, its total restarted or was counted
 * elsewhere meanwhile, and it starts anew instead of going backwards under its old start.
 *
 * <p>Used by one export at a time ({@link OtlpMetricsExporter} runs no two at once); the starts of an export count
 * only once the collector accepted all of it, so a reset point the collector never got is sent again.
 */
final class StreamStarts {

    /** One stream: a series of the TCP or the request metrics, on one partition. */
    private record Stream(boolean tcp, String partition, SeriesKey series) {}

    private Map<Stream, Long> accepted = new HashMap<>();
    private Map<Stream, Long> building = new HashMap<>();

    /** Starts collecting the streams of a new export. */
    void begin() {
        building = new HashMap<>(accepted.size() * 2);
    }

    /** The start of the stream in this export: its start in the last accepted export, else {@code nowNanos}. */
    long of(boolean tcp, String partition, SeriesKey series, long nowNanos) {
        Stream s = new Stream(tcp, partition, series);
        Long start = accepted.get(s);
        long value = start != null ? start : nowNanos;
        building.put(s, value);
        return value;
    }

    /** The collector accepted the export: its streams are the ones that continue; the others are forgotten. */
    void accepted() {
        accepted = building;
        building = new HashMap<>();
    }
}
