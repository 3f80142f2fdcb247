package io.jmesh.ztunnel.admin;

import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * A CPU profile in pprof's format ({@code perftools.profiles.Profile}, google/pprof's {@code profile.proto}), made
 * from a flight recording's {@code jdk.ExecutionSample} events: what Istio's ztunnel answers on
 * {@code /debug/pprof/profile} (pprof-rs, uncompressed protobuf), so that {@code go tool pprof}, flame-graph sites
 * and the other pprof readers open ours too.
 *
 * <p>Samples of the same stack on the same thread are one pprof sample, with the values pprof's CPU profiles carry:
 * {@code samples/count} and {@code cpu/nanoseconds} (count times the sampling period), and a {@code thread} label. A
 * function is a Java method ({@code package.Class.method}, its descriptor as the system name, its class as the file),
 * a location one line of it. JFR samples threads that run Java code; time in native code (the kernel's share of
 * socket I/O, BoringSSL) is not in it, as it is in pprof-rs's signal-based samples.
 */
final class PprofProfile {

    // perftools.profiles.Profile's field numbers (google/pprof, proto/profile.proto)
    private static final int PROFILE_SAMPLE_TYPE = 1;
    private static final int PROFILE_SAMPLE = 2;
    private static final int PROFILE_LOCATION = 4;
    private static final int PROFILE_FUNCTION = 5;
    private static final int PROFILE_STRING_TABLE = 6;
    private static final int PROFILE_TIME_NANOS = 9;
    private static final int PROFILE_DURATION_NANOS = 10;
    private static final int PROFILE_PERIOD_TYPE = 11;
    private static final int PROFILE_PERIOD = 12;
    private static final int VALUE_TYPE_TYPE = 1;
    private static final int VALUE_TYPE_UNIT = 2;
    private static final int SAMPLE_LOCATION_ID = 1;
    private static final int SAMPLE_VALUE = 2;
    private static final int SAMPLE_LABEL = 3;
    private static final int LABEL_KEY = 1;
    private static final int LABEL_STR = 2;
    private static final int LOCATION_ID = 1;
    private static final int LOCATION_LINE = 4;
    private static final int LINE_FUNCTION_ID = 1;
    private static final int LINE_LINE = 2;
    private static final int FUNCTION_ID = 1;
    private static final int FUNCTION_NAME = 2;
    private static final int FUNCTION_SYSTEM_NAME = 3;
    private static final int FUNCTION_FILENAME = 4;

    /** pprof's string table: index 0 is always the empty string. */
    private final Map<String, Long> strings = new LinkedHashMap<>();
    /** Function ids (from 1) by method: name, system name, file. */
    private final Map<List<String>, Long> functions = new LinkedHashMap<>();
    /** Location ids (from 1) by (function id, line). */
    private final Map<List<Long>, Long> locations = new LinkedHashMap<>();
    /** Sample counts by (thread, location ids from the leaf). */
    private final Map<StackOnThread, long[]> samples = new HashMap<>();

    private record StackOnThread(String thread, List<Long> locations) {}

    private PprofProfile() {
        string("");
    }

    /**
     * Writes the pprof profile of the {@code jdk.ExecutionSample} events in {@code recording} to {@code out}.
     *
     * @param period the sampling period the recording ran with (each sample stands for that much CPU time)
     * @param start when the recording started, and {@code duration} how long it ran
     */
    static void write(Path recording, Path out, Duration period, Instant start, Duration duration)
            throws IOException {
        PprofProfile p = new PprofProfile();
        try (RecordingFile jfr = new RecordingFile(recording)) {
            while (jfr.hasMoreEvents()) {
                RecordedEvent e = jfr.readEvent();
                if (e.getEventType().getName().equals("jdk.ExecutionSample") && e.getStackTrace() != null) {
                    p.add(e);
                }
            }
        }
        try (OutputStream file = Files.newOutputStream(out)) {
            CodedOutputStream o = CodedOutputStream.newInstance(file);
            p.encode(o, period.toNanos(), start, duration);
            o.flush();
        }
    }

    private void add(RecordedEvent sample) {
        RecordedStackTrace stack = sample.getStackTrace();
        List<Long> ids = new ArrayList<>(stack.getFrames().size());
        for (RecordedFrame f : stack.getFrames()) { // JFR lists the leaf first, as pprof wants
            RecordedMethod m = f.getMethod();
            if (m == null) {
                continue;
            }
            String type = m.getType() == null ? "" : m.getType().getName();
            String name = type.isEmpty() ? m.getName() : type + "." + m.getName();
            long function = functions.computeIfAbsent(List.of(name, name + m.getDescriptor(), type),
                    k -> (long) functions.size() + 1);
            long line = Math.max(0, f.getLineNumber());
            ids.add(locations.computeIfAbsent(List.of(function, line), k -> (long) locations.size() + 1));
        }
        RecordedThread t = sample.getThread("sampledThread");
        String thread = t == null ? "" : t.getJavaName() != null ? t.getJavaName() : t.getOSName();
        samples.computeIfAbsent(new StackOnThread(thread == null ? "" : thread, List.copyOf(ids)),
                k -> new long[1])[0]++;
    }

    private long string(String s) {
        return strings.computeIfAbsent(s, k -> (long) strings.size());
    }

    private void encode(CodedOutputStream out, long periodNanos, Instant start, Duration duration)
            throws IOException {
        // every string is interned before the string table is written, which comes last
        message(out, PROFILE_SAMPLE_TYPE, valueType("samples", "count"));
        message(out, PROFILE_SAMPLE_TYPE, valueType("cpu", "nanoseconds"));
        long threadKey = string("thread");
        for (Map.Entry<StackOnThread, long[]> s : samples.entrySet()) {
            long count = s.getValue()[0];
            long threadName = string(s.getKey().thread());
            message(out, PROFILE_SAMPLE, o -> {
                packed(o, SAMPLE_LOCATION_ID, s.getKey().locations());
                packed(o, SAMPLE_VALUE, List.of(count, count * periodNanos));
                o.writeByteArray(SAMPLE_LABEL, bytes(l -> {
                    l.writeInt64(LABEL_KEY, threadKey);
                    l.writeInt64(LABEL_STR, threadName);
                }));
            });
        }
        for (Map.Entry<List<Long>, Long> l : locations.entrySet()) {
            message(out, PROFILE_LOCATION, o -> {
                o.writeUInt64(LOCATION_ID, l.getValue());
                o.writeByteArray(LOCATION_LINE, bytes(line -> {
                    line.writeUInt64(LINE_FUNCTION_ID, l.getKey().get(0));
                    if (l.getKey().get(1) > 0) {
                        line.writeInt64(LINE_LINE, l.getKey().get(1));
                    }
                }));
            });
        }
        for (Map.Entry<List<String>, Long> f : functions.entrySet()) {
            long name = string(f.getKey().get(0));
            long systemName = string(f.getKey().get(1));
            long file = string(f.getKey().get(2));
            message(out, PROFILE_FUNCTION, o -> {
                o.writeUInt64(FUNCTION_ID, f.getValue());
                o.writeInt64(FUNCTION_NAME, name);
                o.writeInt64(FUNCTION_SYSTEM_NAME, systemName);
                o.writeInt64(FUNCTION_FILENAME, file);
            });
        }
        message(out, PROFILE_PERIOD_TYPE, valueType("cpu", "nanoseconds"));
        for (String s : strings.keySet()) {
            out.writeString(PROFILE_STRING_TABLE, s);
        }
        out.writeInt64(PROFILE_TIME_NANOS, start.getEpochSecond() * 1_000_000_000L + start.getNano());
        out.writeInt64(PROFILE_DURATION_NANOS, duration.toNanos());
        out.writeInt64(PROFILE_PERIOD, periodNanos);
    }

    private Writer valueType(String type, String unit) {
        long t = string(type);
        long u = string(unit);
        return o -> {
            o.writeInt64(VALUE_TYPE_TYPE, t);
            o.writeInt64(VALUE_TYPE_UNIT, u);
        };
    }

    @FunctionalInterface
    private interface Writer {
        void write(CodedOutputStream out) throws IOException;
    }

    private static void message(CodedOutputStream out, int field, Writer body) throws IOException {
        out.writeByteArray(field, bytes(body));
    }

    private static byte[] bytes(Writer body) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream(64);
        CodedOutputStream o = CodedOutputStream.newInstance(b);
        body.write(o);
        o.flush();
        return b.toByteArray();
    }

    /** A packed repeated 64-bit integer field (proto3's encoding of {@code repeated uint64/int64}). */
    private static void packed(CodedOutputStream out, int field, List<Long> values) throws IOException {
        if (values.isEmpty()) {
            return;
        }
        int size = 0;
        for (long v : values) {
            size += CodedOutputStream.computeUInt64SizeNoTag(v);
        }
        out.writeTag(field, com.google.protobuf.WireFormat.WIRETYPE_LENGTH_DELIMITED);
        out.writeUInt32NoTag(size);
        for (long v : values) {
            out.writeUInt64NoTag(v);
        }
    }
}
