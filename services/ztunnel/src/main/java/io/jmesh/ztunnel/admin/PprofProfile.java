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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * A profile in pprof's format ({@code perftools.profiles.Profile}, google/pprof's {@code profile.proto}): what Istio's
 * ztunnel answers on {@code /debug/pprof/*} (pprof-rs and jemalloc, uncompressed protobuf), so that
 * {@code go tool pprof}, flame-graph sites and the other pprof readers open ours too. Two are made here:
 *
 * <ul>
 *   <li>{@link #cpu}: a flight recording's {@code jdk.ExecutionSample} events. Samples of the same stack on the same
 *       thread are one pprof sample valued {@code samples/count} and {@code cpu/nanoseconds} (count times the sampling
 *       period), labelled {@code thread}; a function is a Java method ({@code package.Class.method}, its descriptor as
 *       the system name, its class as the file), a location one line of it. JFR samples threads that run Java code:
 *       time in native code (the kernel's share of socket I/O, BoringSSL) is not in it, as it is in pprof-rs's
 *       signal-based samples.</li>
 *   <li>{@link #heap}: the live heap by class (the JVM's class histogram, taken after a full collection), valued
 *       {@code inuse_objects/count} and {@code inuse_space/bytes}, one sample per class whose one frame is the class
 *       (its module as the file). The JVM does not record where live objects were allocated, so unlike jemalloc's
 *       heap profile there is no allocation stack.</li>
 * </ul>
 */
final class PprofProfile {

    /** A sample value's kind, as pprof names them ({@code cpu}/{@code nanoseconds}, {@code inuse_space}/{@code bytes}). */
    record ValueType(String type, String unit) {}

    /** One frame of a sample's stack: its function (name, system name, file) and line (0 when unknown). */
    record Frame(String name, String systemName, String file, long line) {}

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

    /** A class histogram's line: rank, instances, bytes, class name, and its module in brackets when it has one. */
    private static final Pattern HISTOGRAM_LINE =
            Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)(?:\\s+\\((\\S+)\\))?\\s*$");

    private final List<ValueType> sampleTypes;
    private final ValueType periodType;
    private final long period;
    /** pprof's string table: index 0 is always the empty string. */
    private final Map<String, Long> strings = new LinkedHashMap<>();
    /** Function ids (from 1) by name, system name and file. */
    private final Map<List<String>, Long> functions = new LinkedHashMap<>();
    /** Location ids (from 1) by (function id, line). */
    private final Map<List<Long>, Long> locations = new LinkedHashMap<>();
    /** Sample values by (thread, location ids from the leaf), in the order first seen. */
    private final Map<StackOnThread, long[]> samples = new LinkedHashMap<>();

    private record StackOnThread(String thread, List<Long> locations) {}

    private PprofProfile(List<ValueType> sampleTypes, ValueType periodType, long period) {
        this.sampleTypes = List.copyOf(sampleTypes);
        this.periodType = periodType;
        this.period = period;
        string("");
    }

    /**
     * The CPU profile of the {@code jdk.ExecutionSample} events in {@code recording}.
     *
     * @param period the sampling period the recording ran with (each sample stands for that much CPU time)
     */
    static PprofProfile cpu(Path recording, Duration period) throws IOException {
        ValueType cpu = new ValueType("cpu", "nanoseconds");
        PprofProfile p = new PprofProfile(List.of(new ValueType("samples", "count"), cpu), cpu, period.toNanos());
        try (RecordingFile jfr = new RecordingFile(recording)) {
            while (jfr.hasMoreEvents()) {
                RecordedEvent e = jfr.readEvent();
                if (e.getEventType().getName().equals("jdk.ExecutionSample") && e.getStackTrace() != null) {
                    RecordedThread t = e.getThread("sampledThread");
                    String thread = t == null ? "" : t.getJavaName() != null ? t.getJavaName() : t.getOSName();
                    p.add(frames(e.getStackTrace()), thread == null ? "" : thread, 1, period.toNanos());
                }
            }
        }
        return p;
    }

    /** JFR lists the leaf first, as pprof wants. */
    private static List<Frame> frames(RecordedStackTrace stack) {
        List<Frame> frames = new ArrayList<>(stack.getFrames().size());
        for (RecordedFrame f : stack.getFrames()) {
            RecordedMethod m = f.getMethod();
            if (m != null) {
                String type = m.getType() == null ? "" : m.getType().getName();
                String name = type.isEmpty() ? m.getName() : type + "." + m.getName();
                frames.add(new Frame(name, name + m.getDescriptor(), type, Math.max(0, f.getLineNumber())));
            }
        }
        return frames;
    }

    /**
     * The live heap by class, from a class histogram as the JVM's {@code GC.class_histogram} writes it (a line per
     * class: rank, instances, bytes, name, module).
     *
     * @throws IllegalArgumentException when no line of it names a class
     */
    static PprofProfile heap(String classHistogram) {
        PprofProfile p = new PprofProfile(List.of(new ValueType("inuse_objects", "count"),
                new ValueType("inuse_space", "bytes")), new ValueType("space", "bytes"), 0);
        for (String line : classHistogram.split("\n")) {
            Matcher m = HISTOGRAM_LINE.matcher(line);
            if (m.matches()) {
                String name = readable(m.group(3));
                String module = m.group(4) == null ? "" : m.group(4);
                p.add(List.of(new Frame(name, m.group(3), module, 0)), null, Long.parseLong(m.group(1)),
                        Long.parseLong(m.group(2)));
            }
        }
        if (p.samples.isEmpty()) {
            throw new IllegalArgumentException("class histogram: no class in it (expected lines of rank, instances, "
                    + "bytes and class name)");
        }
        return p;
    }

    /** A JVM type descriptor as Java writes the type: {@code [B} is {@code byte[]}, {@code [Ljava.lang.String;} {@code java.lang.String[]}. */
    static String readable(String name) {
        int dims = 0;
        while (dims < name.length() && name.charAt(dims) == '[') {
            dims++;
        }
        if (dims == 0) {
            return name;
        }
        String element = name.substring(dims);
        String base = switch (element) {
            case "Z" -> "boolean";
            case "B" -> "byte";
            case "C" -> "char";
            case "S" -> "short";
            case "I" -> "int";
            case "J" -> "long";
            case "F" -> "float";
            case "D" -> "double";
            default -> element.startsWith("L") && element.endsWith(";")
                    ? element.substring(1, element.length() - 1) : element;
        };
        return base + "[]".repeat(dims);
    }

    /** Adds {@code values} to the sample of this stack (leaf first) on {@code thread} (null: no thread label). */
    private void add(List<Frame> stack, String thread, long... values) {
        List<Long> ids = new ArrayList<>(stack.size());
        for (Frame f : stack) {
            long function = functions.computeIfAbsent(List.of(f.name(), f.systemName(), f.file()),
                    k -> (long) functions.size() + 1);
            ids.add(locations.computeIfAbsent(List.of(function, f.line()), k -> (long) locations.size() + 1));
        }
        long[] sum = samples.computeIfAbsent(new StackOnThread(thread, List.copyOf(ids)), k -> new long[values.length]);
        for (int i = 0; i < values.length; i++) {
            sum[i] += values[i];
        }
    }

    /** Writes the profile to {@code out}; {@code start} and {@code duration} say what time it covers. */
    void write(Path out, Instant start, Duration duration) throws IOException {
        try (OutputStream file = Files.newOutputStream(out)) {
            CodedOutputStream o = CodedOutputStream.newInstance(file);
            encode(o, start, duration);
            o.flush();
        }
    }

    private long string(String s) {
        return strings.computeIfAbsent(s, k -> (long) strings.size());
    }

    private void encode(CodedOutputStream out, Instant start, Duration duration) throws IOException {
        // every string is interned before the string table is written, which comes last
        for (ValueType t : sampleTypes) {
            message(out, PROFILE_SAMPLE_TYPE, valueType(t));
        }
        long threadKey = string("thread");
        for (Map.Entry<StackOnThread, long[]> s : samples.entrySet()) {
            long[] values = s.getValue();
            String thread = s.getKey().thread();
            long threadName = thread == null ? 0 : string(thread);
            message(out, PROFILE_SAMPLE, o -> {
                packed(o, SAMPLE_LOCATION_ID, s.getKey().locations());
                packed(o, SAMPLE_VALUE, java.util.Arrays.stream(values).boxed().toList());
                if (thread != null) {
                    o.writeByteArray(SAMPLE_LABEL, bytes(l -> {
                        l.writeInt64(LABEL_KEY, threadKey);
                        l.writeInt64(LABEL_STR, threadName);
                    }));
                }
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
        message(out, PROFILE_PERIOD_TYPE, valueType(periodType));
        for (String s : strings.keySet()) {
            out.writeString(PROFILE_STRING_TABLE, s);
        }
        out.writeInt64(PROFILE_TIME_NANOS, start.getEpochSecond() * 1_000_000_000L + start.getNano());
        out.writeInt64(PROFILE_DURATION_NANOS, duration.toNanos());
        out.writeInt64(PROFILE_PERIOD, period);
    }

    private Writer valueType(ValueType v) {
        long t = string(v.type());
        long u = string(v.unit());
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
