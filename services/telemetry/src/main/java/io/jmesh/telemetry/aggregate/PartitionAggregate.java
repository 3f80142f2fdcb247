package io.jmesh.telemetry.aggregate;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.RequestEvent;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything one Kafka partition has counted, and the offset of the next record to count. It is checkpointed
 * together with the consumer offset in one Kafka transaction, so that after a restart or a rebalance the new
 * owner resumes from a state that contains exactly the records before {@link #nextOffset()}: each event is
 * counted once.
 *
 * <p>Not thread-safe: owned by the ingest thread. Readers get {@link MeshTotals} snapshots.
 */
public final class PartitionAggregate {

    private static final int MAGIC = 0x4a4d5443; // "JMTC"
    /**
     * 2 added the failed count, 3 the open connections of each TCP series; older checkpoints still read (their
     * failed and open counts start at zero). A replica of an older version holds a partition whose checkpoint is
     * newer than it knows (see EventIngestor) rather than restarting its totals.
     */
    private static final byte VERSION = 3;

    /**
     * The largest checkpoint this aggregate grows to: an event that would need a new series beyond it is refused
     * ({@link #add} returns null), since a checkpoint the broker refuses fails every transaction of the replica.
     */
    public static final int MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024;

    // encode(): magic, version, nextOffset, dictionary size, series counts
    private static final int HEADER_BYTES = 4 + 1 + 8 + 4 + 4 + 4;
    private static final int TCP_SERIES_BYTES = 4 * 23 + 7 * 8;
    private static final int REQUEST_SERIES_BYTES = 4 * 25 + 8 + 3 * (8 * 20 + 8) + 8;

    private final Map<SeriesKey, TcpTotals> tcp = new HashMap<>();
    private final Map<SeriesKey, RequestTotals> requests = new HashMap<>();
    /** How many series hold each label value: the checkpoint's dictionary. */
    private final Map<String, int[]> labelRefs = new HashMap<>();
    /** The size of {@link #encode()}, kept as series come and go. */
    private long checkpointBytes = HEADER_BYTES;
    private long nextOffset;
    /** The labels left out of its series ({@code metrics.removeLabels}). */
    private final RemovedLabels removed;

    /** An empty aggregate that starts at {@code nextOffset}, its series keeping every label. */
    public PartitionAggregate(long nextOffset) {
        this(nextOffset, RemovedLabels.NONE);
    }

    /** An empty aggregate that starts at {@code nextOffset} and counts without the {@code removed} labels. */
    public PartitionAggregate(long nextOffset, RemovedLabels removed) {
        this.nextOffset = nextOffset;
        this.removed = removed;
    }

    /** The offset of the first record not yet counted. */
    public long nextOffset() {
        return nextOffset;
    }

    /** Marks the record at {@code offset} as handled (counted, or dead-lettered). */
    public void advanceTo(long offset) {
        nextOffset = Math.max(nextOffset, offset + 1);
    }

    /**
     * Counts a connection event (a PROGRESS only adds its bytes, and marks its series updated: a series whose
     * connections move bytes is in use; a CLOSED whose OPENED the reporter dropped, {@code opened_dropped}, counts
     * the connection opened as well, and leaves the open count alone); returns the series it was counted in, or null
     * (nothing counted) when it needs a new series and the checkpoint has no room for it
     * ({@link #MAX_CHECKPOINT_BYTES}), or when its bytes would overflow a counter ({@link #overflow}).
     */
    public SeriesKey add(ConnectionEvent e, long nowMillis) {
        SeriesKey key = admit(e);
        if (key == null || overflow(e, key) != null) {
            return null;
        }
        add(e, key, nowMillis);
        return key;
    }

    /**
     * The series {@code e} would be counted in, or null when it needs a new series (two, for a close with response
     * flags whose bytes go to the series as opened) the checkpoint has no room for. Changes nothing: whatever can
     * refuse an event is decided here, so that the ingest thread can do everything else that might fail before
     * {@link #add(ConnectionEvent, SeriesKey, long)} counts it, and an event is counted whole or not at all.
     *
     * @throws IllegalArgumentException for a kind other than OPENED, CLOSED or PROGRESS (the decoder refuses those)
     */
    public SeriesKey admit(ConnectionEvent e) {
        switch (e.getKind()) {
            case OPENED, CLOSED, PROGRESS -> { }
            default -> throw new IllegalArgumentException("kind: " + e.getKind()
                    + " (expected: OPENED, CLOSED or PROGRESS)");
        }
        SeriesKey key = removed.apply(IstioLabels.of(e));
        boolean isNew = !tcp.containsKey(key);
        SeriesKey asOpened = countsAsOpened(e) ? IstioLabels.withoutFlags(key) : key;
        boolean openedIsNew = !asOpened.equals(key) && !tcp.containsKey(asOpened);
        long more = (isNew ? TCP_SERIES_BYTES + newLabelBytes(key, null) : 0)
                + (openedIsNew ? TCP_SERIES_BYTES + newLabelBytes(asOpened, key) : 0);
        return more > 0 && checkpointBytes + more > MAX_CHECKPOINT_BYTES ? null : key;
    }

    /**
     * What is wrong with counting {@code e}'s bytes in {@code key}, the series {@link #admit} gave for it, or null:
     * they go to the series of its connection as opened, and a byte counter past {@link Long#MAX_VALUE} would read
     * negative, which Prometheus takes for a reset (and counts all it held again). No connection moves that much (9.2
     * EB; 23 years at 100 Gbit/s): only events with absurd byte counts get there, and those are refused by name
     * rather than clamped, so they are kept where someone can look at them. Changes nothing.
     */
    public String overflow(ConnectionEvent e, SeriesKey key) {
        if (!countsAsOpened(e)) {
            return null;
        }
        TcpTotals b = tcp.get(IstioLabels.withoutFlags(key));
        long sentHeld = b == null ? 0 : b.sentBytes;
        long receivedHeld = b == null ? 0 : b.receivedBytes;
        String bad = overflow("bytes_sent", "istio_tcp_sent_bytes_total", ConnectionBytes.sent(e), sentHeld);
        return bad != null ? bad
                : overflow("bytes_received", "istio_tcp_received_bytes_total", ConnectionBytes.received(e),
                        receivedHeld);
    }

    private static String overflow(String field, String counter, long adds, long held) {
        return adds <= Long.MAX_VALUE - held ? null : "ConnectionEvent." + field + ": adds " + adds + " to its series' "
                + counter + ", which holds " + held + " (expected: at most " + Long.MAX_VALUE + " in all)";
    }

    /** Counts {@code e} in {@code key}, the series {@link #admit} gave for it, once {@link #overflow} found nothing. */
    public void add(ConnectionEvent e, SeriesKey key, long nowMillis) {
        // a close whose OPENED the reporter dropped counts the open too, where that OPENED would have counted
        boolean unseenOpen = unseenOpen(e);
        long sent = ConnectionBytes.sent(e);
        long received = ConnectionBytes.received(e);
        TcpTotals t = tcp.get(key);
        if (t == null) {
            t = new TcpTotals();
            putTcp(key, t);
        }
        switch (e.getKind()) {
            case OPENED -> {
                t.opened++;
                t.open++;
            }
            case CLOSED -> {
                t.closed++;
                if (!unseenOpen) {
                    closeOne(key, t, nowMillis); // else no open count has it: it must not end another connection
                }
                if (!e.getError().isEmpty()) {
                    t.failed++; // a denial, a failed connect, a broken tunnel: ztunnel's failed connection
                }
            }
            default -> {
                // PROGRESS (admit() let no other kind through): bytes only, the connection is still open, and was
                // counted opened by its OPENED
            }
        }
        // ztunnel adds the bytes as they pass to the series of the connection as opened, without the flags of its
        // end, and counts it opened there: count them there, so both give the same series
        if (countsAsOpened(e)) {
            SeriesKey asOpened = IstioLabels.withoutFlags(key);
            TcpTotals b = asOpened.equals(key) ? t : tcp.get(asOpened);
            if (b == null) {
                b = new TcpTotals();
                putTcp(asOpened, b);
            }
            b.sentBytes += sent;
            b.receivedBytes += received;
            if (unseenOpen) {
                b.opened++;
            }
            b.lastSeenMillis = nowMillis;
        }
        t.lastSeenMillis = nowMillis;
    }

    private static boolean unseenOpen(ConnectionEvent e) {
        return e.getKind() == ConnectionEvent.Kind.CLOSED && e.getOpenedDropped();
    }

    /** Whether {@code e} counts anything in the series of its connection as opened: bytes, or an unseen open. */
    private static boolean countsAsOpened(ConnectionEvent e) {
        return ConnectionBytes.sent(e) != 0 || ConnectionBytes.received(e) != 0 || unseenOpen(e);
    }

    /**
     * One connection of the closed event's series is no longer open. It was opened on the same series, or, when the
     * close carries response flags its open did not have, on the series without them (ztunnel opens with "-"). A
     * close whose open was never seen (counted before this aggregate existed, or its series expired) changes
     * nothing. The series stays in use until now, as ztunnel keeps a series for the TTL after its last close.
     */
    private void closeOne(SeriesKey key, TcpTotals t, long nowMillis) {
        TcpTotals o = t.open > 0 ? t : tcp.get(IstioLabels.withoutFlags(key));
        if (o != null && o.open > 0) {
            o.open--;
            o.lastSeenMillis = nowMillis;
        }
    }

    /** Counts a request event; returns the series it was counted in, or null as {@link #add(ConnectionEvent, long)}. */
    public SeriesKey add(RequestEvent e, long nowMillis) {
        SeriesKey key = admit(e);
        if (key != null) {
            add(e, key, nowMillis);
        }
        return key;
    }

    /** The series {@code e} would be counted in, or null as {@link #admit(ConnectionEvent)}; changes nothing. */
    public SeriesKey admit(RequestEvent e) {
        SeriesKey key = removed.apply(IstioLabels.of(e));
        boolean noRoom = !requests.containsKey(key)
                && checkpointBytes + REQUEST_SERIES_BYTES + newLabelBytes(key, null) > MAX_CHECKPOINT_BYTES;
        return noRoom ? null : key;
    }

    /** Counts {@code e} in {@code key}, the series {@link #admit(RequestEvent)} gave for it; cannot fail. */
    public void add(RequestEvent e, SeriesKey key, long nowMillis) {
        RequestTotals t = requests.get(key);
        if (t == null) {
            t = new RequestTotals();
            putRequest(key, t);
        }
        t.requests++;
        t.durationMillis.observe(e.getDuration().getSeconds() * 1000.0 + e.getDuration().getNanos() / 1_000_000.0);
        t.requestBytes.observe(e.getRequestBytes());
        t.responseBytes.observe(e.getResponseBytes());
        t.lastSeenMillis = nowMillis;
    }

    /**
     * Removes series not updated since {@code idleCutoffMillis}, except TCP series with connections still open:
     * those stay until {@code openCutoffMillis} (much earlier), the bound for a close that will never come.
     */
    public Expired expire(long idleCutoffMillis, long openCutoffMillis) {
        int before = tcp.size() + requests.size();
        int[] open = {0};
        tcp.entrySet().removeIf(e -> {
            TcpTotals t = e.getValue();
            if (t.lastSeenMillis >= (t.open > 0 ? openCutoffMillis : idleCutoffMillis)) {
                return false;
            }
            if (t.open > 0) {
                open[0]++;
            }
            return released(e.getKey(), TCP_SERIES_BYTES);
        });
        requests.entrySet().removeIf(e -> e.getValue().lastSeenMillis < idleCutoffMillis && released(e.getKey(),
                REQUEST_SERIES_BYTES));
        int gone = before - tcp.size() - requests.size();
        return gone == 0 ? Expired.NONE : new Expired(gone, open[0]);
    }

    /** The size of this aggregate's checkpoint ({@link #encode()}), in bytes. */
    public long checkpointBytes() {
        return checkpointBytes;
    }

    private void putTcp(SeriesKey k, TcpTotals t) {
        tcp.put(k, t);
        held(k, TCP_SERIES_BYTES);
    }

    private void putRequest(SeriesKey k, RequestTotals t) {
        requests.put(k, t);
        held(k, REQUEST_SERIES_BYTES);
    }

    private void held(SeriesKey k, int seriesBytes) {
        checkpointBytes += seriesBytes;
        for (int i = 0; i < k.size(); i++) {
            int[] n = labelRefs.computeIfAbsent(k.value(i), v -> new int[1]);
            if (n[0]++ == 0) {
                checkpointBytes += entryBytes(k.value(i));
            }
        }
    }

    /** Forgets a removed series' share of the checkpoint; true, for removeIf. */
    private boolean released(SeriesKey k, int seriesBytes) {
        checkpointBytes -= seriesBytes;
        for (int i = 0; i < k.size(); i++) {
            int[] n = labelRefs.get(k.value(i));
            if (--n[0] == 0) {
                labelRefs.remove(k.value(i));
                checkpointBytes -= entryBytes(k.value(i));
            }
        }
        return true;
    }

    /** Dictionary bytes {@code k} would add, not counting values {@code also} (about to be added too) holds. */
    private long newLabelBytes(SeriesKey k, SeriesKey also) {
        long bytes = 0;
        java.util.Set<String> seen = new java.util.HashSet<>();
        if (also != null) {
            for (int i = 0; i < also.size(); i++) {
                seen.add(also.value(i));
            }
        }
        for (int i = 0; i < k.size(); i++) {
            String v = k.value(i);
            if (!labelRefs.containsKey(v) && seen.add(v)) {
                bytes += entryBytes(v);
            }
        }
        return bytes;
    }

    /** What {@link DataOutputStream#writeUTF} writes for {@code s}: a length and modified UTF-8. */
    private static int entryBytes(String s) {
        int n = 2;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            n += c >= 1 && c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
        }
        return n;
    }

    public Map<SeriesKey, TcpTotals> tcp() {
        return java.util.Collections.unmodifiableMap(tcp);
    }

    public Map<SeriesKey, RequestTotals> requests() {
        return java.util.Collections.unmodifiableMap(requests);
    }

    public int seriesCount() {
        return tcp.size() + requests.size();
    }

    // ---- checkpoint codec --------------------------------------------------------------------------------------
    // magic, version, nextOffset, a dictionary of label values, then each series as dictionary indices and totals.

    /** The checkpoint form of this aggregate. */
    public byte[] encode() {
        Map<String, Integer> dict = new LinkedHashMap<>();
        for (SeriesKey k : tcp.keySet()) {
            index(dict, k);
        }
        for (SeriesKey k : requests.keySet()) {
            index(dict, k);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256 + 64 * seriesCount());
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeByte(VERSION);
            out.writeLong(nextOffset);
            out.writeInt(dict.size());
            for (String s : dict.keySet()) {
                out.writeUTF(s);
            }
            out.writeInt(tcp.size());
            for (Map.Entry<SeriesKey, TcpTotals> e : tcp.entrySet()) {
                writeKey(out, dict, e.getKey());
                TcpTotals t = e.getValue();
                out.writeLong(t.opened);
                out.writeLong(t.closed);
                out.writeLong(t.sentBytes);
                out.writeLong(t.receivedBytes);
                out.writeLong(t.failed);
                out.writeLong(t.open);
                out.writeLong(t.lastSeenMillis);
            }
            out.writeInt(requests.size());
            for (Map.Entry<SeriesKey, RequestTotals> e : requests.entrySet()) {
                writeKey(out, dict, e.getKey());
                RequestTotals t = e.getValue();
                out.writeLong(t.requests);
                writeDistribution(out, t.durationMillis);
                writeDistribution(out, t.requestBytes);
                writeDistribution(out, t.responseBytes);
                out.writeLong(t.lastSeenMillis);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e); // in-memory stream
        }
        return bytes.toByteArray();
    }

    /** Reads a checkpoint written by {@link #encode()} into an aggregate that keeps every label. */
    public static PartitionAggregate decode(byte[] checkpoint) {
        return decode(checkpoint, RemovedLabels.NONE);
    }

    /**
     * Reads a checkpoint written by {@link #encode()} into an aggregate that counts without the {@code removed}
     * labels. The checkpoint may have been written with other labels removed: its series are made to fit
     * ({@link RemovedLabels#restored}), and those that become one are merged (a label removed since adds up the
     * series that differed in it; one no longer removed reads {@code unknown} in the series counted without it).
     *
     * @throws IllegalArgumentException naming what is wrong when the bytes are not a checkpoint of this version, or
     *     hold a count below zero (served, it would read as a reset)
     */
    public static PartitionAggregate decode(byte[] checkpoint, RemovedLabels removed) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(checkpoint))) {
            int magic = in.readInt();
            if (magic != MAGIC) {
                throw new IllegalArgumentException("checkpoint magic: " + Integer.toHexString(magic)
                        + " (expected: " + Integer.toHexString(MAGIC) + ")");
            }
            byte version = in.readByte();
            if (version < 1 || version > VERSION) {
                throw new IllegalArgumentException("checkpoint version: " + version + " (expected: 1 to " + VERSION
                        + ")");
            }
            PartitionAggregate a = new PartitionAggregate(in.readLong(), removed);
            String[] dict = new String[count(in, "dictionary")];
            for (int i = 0; i < dict.length; i++) {
                dict[i] = in.readUTF();
            }
            int tcpCount = count(in, "tcp series");
            for (int i = 0; i < tcpCount; i++) {
                SeriesKey k = removed.restored(readKey(in, dict, IstioLabels.TCP.size()));
                TcpTotals t = new TcpTotals();
                t.opened = nonNegative(in.readLong(), "connections opened");
                t.closed = nonNegative(in.readLong(), "connections closed");
                t.sentBytes = nonNegative(in.readLong(), "bytes sent");
                t.receivedBytes = nonNegative(in.readLong(), "bytes received");
                t.failed = version >= 2 ? nonNegative(in.readLong(), "connections failed") : 0;
                t.open = version >= 3 ? nonNegative(in.readLong(), "open connections") : 0;
                t.lastSeenMillis = in.readLong();
                TcpTotals same = a.tcp.get(k);
                if (same == null) {
                    a.putTcp(k, t);
                } else {
                    same.add(t);
                }
            }
            int reqCount = count(in, "request series");
            for (int i = 0; i < reqCount; i++) {
                SeriesKey k = removed.restored(readKey(in, dict, IstioLabels.REQUEST.size()));
                long n = nonNegative(in.readLong(), "requests");
                RequestTotals t = new RequestTotals(readDistribution(in), readDistribution(in), readDistribution(in));
                t.requests = n;
                t.lastSeenMillis = in.readLong();
                RequestTotals same = a.requests.get(k);
                if (same == null) {
                    a.putRequest(k, t);
                } else {
                    same.add(t);
                }
            }
            if (in.available() != 0) {
                throw new IllegalArgumentException("checkpoint: " + in.available() + " trailing bytes (expected: 0)");
            }
            return a;
        } catch (IOException e) {
            throw new IllegalArgumentException("checkpoint truncated: " + e, e);
        }
    }

    private static void index(Map<String, Integer> dict, SeriesKey k) {
        for (int i = 0; i < k.size(); i++) {
            dict.putIfAbsent(k.value(i), dict.size());
        }
    }

    private static void writeKey(DataOutputStream out, Map<String, Integer> dict, SeriesKey k) throws IOException {
        for (int i = 0; i < k.size(); i++) {
            out.writeInt(dict.get(k.value(i)));
        }
    }

    private static SeriesKey readKey(DataInputStream in, String[] dict, int labels) throws IOException {
        String[] v = new String[labels];
        for (int i = 0; i < labels; i++) {
            int idx = in.readInt();
            if (idx < 0 || idx >= dict.length) {
                throw new IllegalArgumentException("checkpoint label index: " + idx + " (expected: < " + dict.length + ")");
            }
            v[i] = dict[idx];
        }
        return new SeriesKey(v);
    }

    private static void writeDistribution(DataOutputStream out, Distribution d) throws IOException {
        for (long c : d.counts) {
            out.writeLong(c);
        }
        out.writeDouble(d.sum);
    }

    private static Distribution readDistribution(DataInputStream in) throws IOException {
        long[] counts = new long[Buckets.count()];
        for (int i = 0; i < counts.length; i++) {
            counts[i] = nonNegative(in.readLong(), "histogram bucket");
        }
        double sum = in.readDouble();
        if (!(sum >= 0 && sum < Double.POSITIVE_INFINITY)) { // NaN fails both
            throw new IllegalArgumentException("checkpoint histogram sum: " + sum + " (expected: finite, >= 0)");
        }
        return new Distribution(counts, sum + 0.0); // -0.0 (which passes >= 0) becomes 0.0, not "-0.0" served
    }

    private static long nonNegative(long n, String what) {
        if (n < 0) {
            throw new IllegalArgumentException("checkpoint " + what + ": " + n + " (expected: >= 0)");
        }
        return n;
    }

    private static int count(DataInputStream in, String what) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 10_000_000) {
            throw new IllegalArgumentException("checkpoint " + what + " count: " + n + " (expected: 0..10000000)");
        }
        return n;
    }
}
