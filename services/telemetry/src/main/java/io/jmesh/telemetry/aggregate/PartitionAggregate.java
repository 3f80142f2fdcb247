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
    /** 2 added the failed count; a version-1 checkpoint still reads (its failed counts start at zero). */
    private static final byte VERSION = 2;

    private final Map<SeriesKey, TcpTotals> tcp = new HashMap<>();
    private final Map<SeriesKey, RequestTotals> requests = new HashMap<>();
    private long nextOffset;

    /** An empty aggregate that starts at {@code nextOffset}. */
    public PartitionAggregate(long nextOffset) {
        this.nextOffset = nextOffset;
    }

    /** The offset of the first record not yet counted. */
    public long nextOffset() {
        return nextOffset;
    }

    /** Marks the record at {@code offset} as handled (counted, or dead-lettered). */
    public void advanceTo(long offset) {
        nextOffset = Math.max(nextOffset, offset + 1);
    }

    /** Counts a connection event; returns the series it was counted in. */
    public SeriesKey add(ConnectionEvent e, long nowMillis) {
        SeriesKey key = IstioLabels.of(e);
        TcpTotals t = tcp.computeIfAbsent(key, k -> new TcpTotals());
        switch (e.getKind()) {
            case OPENED -> t.opened++;
            case CLOSED -> {
                t.closed++;
                if (!e.getError().isEmpty()) {
                    t.failed++; // a denial, a failed connect, a broken tunnel: ztunnel's failed connection
                }
                // ztunnel adds the bytes as they pass to the series of the connection as opened, without the
                // flags of its end: count them there, so both give the same byte series
                if (e.getBytesSent() != 0 || e.getBytesReceived() != 0) {
                    SeriesKey asOpened = IstioLabels.withoutFlags(key);
                    TcpTotals b = asOpened == key ? t : tcp.computeIfAbsent(asOpened, k -> new TcpTotals());
                    b.sentBytes += e.getBytesSent();
                    b.receivedBytes += e.getBytesReceived();
                    b.lastSeenMillis = nowMillis;
                }
            }
            default -> throw new IllegalArgumentException("kind: " + e.getKind() + " (expected: OPENED or CLOSED)");
        }
        t.lastSeenMillis = nowMillis;
        return key;
    }

    /** Counts a request event; returns the series it was counted in. */
    public SeriesKey add(RequestEvent e, long nowMillis) {
        SeriesKey key = IstioLabels.of(e);
        RequestTotals t = requests.computeIfAbsent(key, k -> new RequestTotals());
        t.requests++;
        t.durationMillis.observe(e.getDuration().getSeconds() * 1000.0 + e.getDuration().getNanos() / 1_000_000.0);
        t.requestBytes.observe(e.getRequestBytes());
        t.responseBytes.observe(e.getResponseBytes());
        t.lastSeenMillis = nowMillis;
        return key;
    }

    /** Removes series not updated since {@code cutoffMillis}; returns how many. */
    public int expire(long cutoffMillis) {
        int before = tcp.size() + requests.size();
        tcp.values().removeIf(t -> t.lastSeenMillis < cutoffMillis);
        requests.values().removeIf(t -> t.lastSeenMillis < cutoffMillis);
        return before - tcp.size() - requests.size();
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

    /**
     * Reads a checkpoint written by {@link #encode()}.
     *
     * @throws IllegalArgumentException naming what is wrong when the bytes are not a checkpoint of this version
     */
    public static PartitionAggregate decode(byte[] checkpoint) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(checkpoint))) {
            int magic = in.readInt();
            if (magic != MAGIC) {
                throw new IllegalArgumentException("checkpoint magic: " + Integer.toHexString(magic)
                        + " (expected: " + Integer.toHexString(MAGIC) + ")");
            }
            byte version = in.readByte();
            if (version != VERSION && version != 1) {
                throw new IllegalArgumentException("checkpoint version: " + version + " (expected: 1 or " + VERSION
                        + ")");
            }
            PartitionAggregate a = new PartitionAggregate(in.readLong());
            String[] dict = new String[count(in, "dictionary")];
            for (int i = 0; i < dict.length; i++) {
                dict[i] = in.readUTF();
            }
            int tcpCount = count(in, "tcp series");
            for (int i = 0; i < tcpCount; i++) {
                SeriesKey k = readKey(in, dict, IstioLabels.TCP.size());
                TcpTotals t = new TcpTotals();
                t.opened = in.readLong();
                t.closed = in.readLong();
                t.sentBytes = in.readLong();
                t.receivedBytes = in.readLong();
                t.failed = version >= 2 ? in.readLong() : 0;
                t.lastSeenMillis = in.readLong();
                a.tcp.put(k, t);
            }
            int reqCount = count(in, "request series");
            for (int i = 0; i < reqCount; i++) {
                SeriesKey k = readKey(in, dict, IstioLabels.REQUEST.size());
                long n = in.readLong();
                RequestTotals t = new RequestTotals(readDistribution(in), readDistribution(in), readDistribution(in));
                t.requests = n;
                t.lastSeenMillis = in.readLong();
                a.requests.put(k, t);
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
            counts[i] = in.readLong();
        }
        return new Distribution(counts, in.readDouble());
    }

    private static int count(DataInputStream in, String what) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 10_000_000) {
            throw new IllegalArgumentException("checkpoint " + what + " count: " + n + " (expected: 0..10000000)");
        }
        return n;
    }
}
