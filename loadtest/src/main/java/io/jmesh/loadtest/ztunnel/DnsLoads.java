package io.jmesh.loadtest.ztunnel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * DNS over UDP for the {@code ztunnel-dns} benchmark: a fixed-rate, open-loop query generator (coordinated-omission
 * safe) and a stub upstream resolver. No DNS server package is available on the benchmark machines, so the
 * upstream is this class's own: one thread on a blocking {@link DatagramChannel}.
 */
final class DnsLoads {

    static final int HEADER = 12;
    static final int TYPE_A = 1;
    static final int CLASS_IN = 1;
    private static final int QR = 0x8000;
    private static final int RD = 0x0100;
    private static final int RA = 0x0080;
    private static final int OPCODE = 0x7800;
    private static final int NOTIMP = 4;
    /** How long after its last query a run waits for the answers still missing; those then count as timeouts. */
    static final Duration DRAIN = Duration.ofSeconds(2);

    private DnsLoads() {}

    /**
     * An upstream resolver on a loopback address: every A/IN question gets one fixed A record (TTL 60) with the
     * query's id and question copied; any other type NOERROR without records; another opcode NOTIMP; a response,
     * a message without exactly one question or with a malformed one is dropped. EDNS records are not echoed.
     */
    static final class StubResolver implements AutoCloseable {
        private final DatagramChannel channel;
        private final byte[] address;
        private final Thread thread;
        private final AtomicLong answered = new AtomicLong();
        private final AtomicLong dropped = new AtomicLong();

        StubResolver(String ip, byte[] address) throws IOException {
            if (address.length != 4) {
                throw new IllegalArgumentException("address: " + address.length + " bytes (expected: 4)");
            }
            this.address = address.clone();
            channel = DatagramChannel.open(StandardProtocolFamily.INET);
            channel.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
            channel.bind(new InetSocketAddress(ip, 0));
            thread = new Thread(this::serve, "stub-resolver");
            thread.setDaemon(true);
            thread.start();
        }

        InetSocketAddress address() throws IOException {
            return (InetSocketAddress) channel.getLocalAddress();
        }

        long answered() {
            return answered.get();
        }

        long dropped() {
            return dropped.get();
        }

        /** The serving thread, for its CPU time. */
        Thread thread() {
            return thread;
        }

        private void serve() {
            ByteBuffer in = ByteBuffer.allocateDirect(1500);
            ByteBuffer out = ByteBuffer.allocateDirect(1500);
            while (channel.isOpen()) {
                in.clear();
                SocketAddress from;
                try {
                    from = channel.receive(in);
                } catch (ClosedChannelException e) {
                    return;
                } catch (IOException e) {
                    dropped.incrementAndGet();
                    continue;
                }
                in.flip();
                if (from == null || !answer(in, out, address)) {
                    dropped.incrementAndGet();
                    continue;
                }
                out.flip();
                try {
                    channel.send(out, from);
                    answered.incrementAndGet();
                } catch (ClosedChannelException e) {
                    return;
                } catch (IOException e) {
                    dropped.incrementAndGet();
                }
            }
        }

        @Override
        public void close() throws Exception {
            channel.close();
            thread.join(TimeUnit.SECONDS.toMillis(5));
        }
    }

    /**
     * Writes the stub resolver's answer to {@code query} into {@code out} (cleared first); false when the query is
     * dropped instead. {@code query} is read from position 0 to its limit.
     */
    static boolean answer(ByteBuffer query, ByteBuffer out, byte[] address) {
        int n = query.limit();
        if (n < HEADER) {
            return false;
        }
        int flags = query.getShort(2) & 0xFFFF;
        if ((flags & QR) != 0 || (query.getShort(4) & 0xFFFF) != 1) {
            return false;
        }
        int questionEnd = questionEnd(query, n);
        if (questionEnd < 0) {
            return false;
        }
        int type = query.getShort(questionEnd - 4) & 0xFFFF;
        int qclass = query.getShort(questionEnd - 2) & 0xFFFF;
        boolean notImplemented = (flags & OPCODE) != 0;
        boolean a = !notImplemented && type == TYPE_A && qclass == CLASS_IN;
        out.clear();
        out.putShort(query.getShort(0));
        out.putShort((short) (QR | (flags & (OPCODE | RD)) | RA | (notImplemented ? NOTIMP : 0)));
        out.putShort((short) 1).putShort((short) (a ? 1 : 0)).putShort((short) 0).putShort((short) 0);
        out.put(query.duplicate().position(HEADER).limit(questionEnd));
        if (a) {
            out.putShort((short) (0xC000 | HEADER)).putShort((short) TYPE_A).putShort((short) CLASS_IN).putInt(60)
                    .putShort((short) 4).put(address);
        }
        return true;
    }

    /** The end of the single question (after QTYPE and QCLASS), or -1 when it runs past {@code n} or compresses. */
    static int questionEnd(ByteBuffer msg, int n) {
        int p = HEADER;
        for (int labels = 0; labels < 128; labels++) {
            if (p >= n) {
                return -1;
            }
            int len = msg.get(p) & 0xFF;
            if (len == 0) {
                return p + 5 <= n ? p + 5 : -1;
            }
            if ((len & 0xC0) != 0) {
                return -1;
            }
            p += 1 + len;
        }
        return -1;
    }

    /** An A/IN query for {@code name} (recursion desired, id 0), as a stub resolver sends it. */
    static byte[] query(String name) {
        ByteBuffer b = ByteBuffer.allocate(HEADER + name.length() + 6);
        b.putShort((short) 0).putShort((short) RD).putShort((short) 1).putShort((short) 0).putShort((short) 0)
                .putShort((short) 0);
        for (String label : name.split("\\.")) {
            byte[] raw = label.getBytes(StandardCharsets.US_ASCII);
            if (raw.length == 0 || raw.length > 63) {
                throw new IllegalArgumentException("name: " + name);
            }
            b.put((byte) raw.length).put(raw);
        }
        b.put((byte) 0).putShort((short) TYPE_A).putShort((short) CLASS_IN);
        return Arrays.copyOf(b.array(), b.position());
    }

    /**
     * True when {@code answer} (RCODE already checked) repeats the question of {@code query} and carries an A/IN
     * record with {@code expected} among its answer records (after a CNAME, if any).
     */
    static boolean carries(ByteBuffer answer, int n, byte[] query, byte[] expected) {
        if (n < query.length || (answer.getShort(2) & QR) == 0 || (answer.getShort(4) & 0xFFFF) != 1) {
            return false;
        }
        for (int i = HEADER; i < query.length; i++) {
            if (answer.get(i) != query[i]) {
                return false;
            }
        }
        int records = answer.getShort(6) & 0xFFFF;
        int p = query.length;
        for (int r = 0; r < records; r++) {
            p = skipName(answer, p, n);
            if (p < 0 || p + 10 > n) {
                return false;
            }
            int type = answer.getShort(p) & 0xFFFF;
            int qclass = answer.getShort(p + 2) & 0xFFFF;
            int length = answer.getShort(p + 8) & 0xFFFF;
            p += 10;
            if (p + length > n) {
                return false;
            }
            if (type == TYPE_A && qclass == CLASS_IN && length == 4 && answer.get(p) == expected[0]
                    && answer.get(p + 1) == expected[1] && answer.get(p + 2) == expected[2]
                    && answer.get(p + 3) == expected[3]) {
                return true;
            }
            p += length;
        }
        return false;
    }

    /** Past a record's owner name (labels ending in a zero byte or a compression pointer), or -1. */
    private static int skipName(ByteBuffer msg, int p, int n) {
        for (int labels = 0; labels < 128; labels++) {
            if (p >= n) {
                return -1;
            }
            int len = msg.get(p) & 0xFF;
            if (len == 0) {
                return p + 1;
            }
            if ((len & 0xC0) == 0xC0) {
                return p + 2 <= n ? p + 2 : -1;
            }
            p += 1 + len;
        }
        return -1;
    }

    /**
     * Datagrams the kernel dropped at the UDP socket bound to the IPv4 address {@code local} (its receive buffer was
     * full): the {@code drops} column of {@code /proc/net/udp}, or of {@code /proc/net/udp6} for a dual-stack socket
     * bound to the IPv4-mapped address (as Netty's are); 0 when there is no such socket or no such file.
     */
    static long udpDrops(InetSocketAddress local) {
        byte[] a = local.getAddress().getAddress();
        String hex = String.format("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], local.getPort());
        String mapped = "0000000000000000FFFF0000" + hex;
        long sum = 0;
        for (String[] f : udpSockets()) {
            if (f[1].equals(hex) || f[1].equals(mapped)) {
                sum += Long.parseLong(f[12]);
            }
        }
        return sum;
    }

    /** Datagrams the kernel dropped at the UDP sockets (IPv4 and IPv6) a process holds open (by socket inode). */
    static long udpDrops(long pid) {
        java.util.Set<String> inodes = new java.util.HashSet<>();
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/" + pid + "/fd"))) {
            for (java.nio.file.Path fd : (Iterable<java.nio.file.Path>) fds::iterator) {
                try {
                    String target = java.nio.file.Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            return 0;
        }
        long sum = 0;
        for (String[] f : udpSockets()) {
            if (inodes.contains(f[9])) {
                sum += Long.parseLong(f[12]);
            }
        }
        return sum;
    }

    /** The socket lines of {@code /proc/net/udp} and {@code udp6}, split: [1] local address, [9] inode, [12] drops. */
    private static List<String[]> udpSockets() {
        List<String[]> out = new java.util.ArrayList<>();
        for (String file : new String[] {"/proc/net/udp", "/proc/net/udp6"}) {
            try {
                List<String> lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of(file));
                for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length >= 13) {
                        out.add(f);
                    }
                }
            } catch (IOException e) {
                // not Linux, or no IPv6: no drop counts from there
            }
        }
        return out;
    }

    /** One name to ask and the A record its answer must carry. */
    record Question(String name, byte[] expected) {}

    /**
     * One run's outcome.
     *
     * @param latency microseconds from each query's intended send time to its answer
     * @param sendLag microseconds from each query's intended send time to its actual send (the generator's own
     *     lateness, included in {@code latency})
     * @param seconds from the first intended send to the last answer (at least the run's duration)
     * @param rcodeErrors answers with RCODE other than NOERROR
     * @param wrong NOERROR answers without the question asked or the expected A record, and unmatched answers
     * @param timeouts queries without an answer {@link #DRAIN} after the last send
     * @param clientDrops answers the kernel dropped because the generator's socket buffer was full
     */
    record Result(Histogram latency, Histogram sendLag, long sent, long answered, double seconds, long rcodeErrors,
            long wrong, long timeouts, long clientDrops) {

        double achievedRate() {
            return answered / seconds;
        }
    }

    /**
     * Sends A queries to {@code server} at a fixed rate from one UDP socket bound to {@code source} (any port),
     * cycling through {@code questions}, for {@code d}. Open loop: each query has an intended send time on a fixed
     * schedule and is sent then (or at once, when the generator is late), whatever the answers do; a second thread
     * matches answers by id and records each latency from the intended send time, so a stall is charged to every
     * query it delayed.
     */
    static Result fixedRate(InetSocketAddress server, String source, List<Question> questions, int ratePerSecond,
            Duration d) throws Exception {
        if (questions.isEmpty() || ratePerSecond <= 0) {
            throw new IllegalArgumentException("questions and a positive rate needed");
        }
        byte[][] queries = new byte[questions.size()][];
        for (int i = 0; i < queries.length; i++) {
            queries[i] = query(questions.get(i).name());
        }
        Histogram latency = new Histogram(60_000_000L, 3);
        Histogram lag = new Histogram(60_000_000L, 3);
        // per id: the intended send time (0: nothing outstanding) and which question went out under it
        AtomicLongArray sentAt = new AtomicLongArray(0x10000);
        int[] questionOf = new int[0x10000];
        AtomicLong outstanding = new AtomicLong();
        long[] counts = new long[3]; // answered, rcodeErrors, wrong: the receiver's, read after join
        long[] lastAnswer = new long[1];
        long overwritten = 0;
        long intervalNanos = 1_000_000_000L / ratePerSecond;
        long total = d.toNanos() / intervalNanos;
        try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET)) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
            ch.bind(new InetSocketAddress(source, 0));
            ch.connect(server); // only the server's datagrams are received
            Thread receiver = new Thread(() -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(1500);
                while (ch.isOpen()) {
                    buf.clear();
                    try {
                        ch.receive(buf);
                    } catch (ClosedChannelException e) {
                        return;
                    } catch (IOException e) {
                        counts[2]++; // e.g. ICMP port unreachable: the server is not there
                        continue;
                    }
                    long now = System.nanoTime();
                    int n = buf.position();
                    if (n < HEADER) {
                        counts[2]++;
                        continue;
                    }
                    int id = buf.getShort(0) & 0xFFFF;
                    long intended = sentAt.getAndSet(id, 0);
                    if (intended == 0) {
                        counts[2]++; // an answer to nothing outstanding (a duplicate, or a made-up id)
                        continue;
                    }
                    outstanding.decrementAndGet();
                    latency.recordValue(Math.max(1, (now - intended) / 1000));
                    lastAnswer[0] = now;
                    counts[0]++;
                    int q = questionOf[id];
                    if ((buf.getShort(2) & 0xF) != 0) {
                        counts[1]++;
                    } else if (!carries(buf, n, queries[q], questions.get(q).expected())) {
                        counts[2]++;
                    }
                }
            }, "dns-answers");
            receiver.setDaemon(true);
            receiver.start();
            ByteBuffer out = ByteBuffer.allocateDirect(512);
            int id = ThreadLocalRandom.current().nextInt(0x10000);
            long start = System.nanoTime() + 20_000_000L;
            for (long i = 0; i < total; i++) {
                long intended = start + i * intervalNanos;
                long wait = intended - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
                int q = (int) (i % queries.length);
                id = (id + 1) & 0xFFFF;
                questionOf[id] = q;
                if (sentAt.getAndSet(id, intended == 0 ? 1 : intended) != 0) {
                    overwritten++; // unanswered for a whole cycle of 65,536 ids
                } else {
                    outstanding.incrementAndGet();
                }
                out.clear();
                out.put(queries[q]).putShort(0, (short) id).flip();
                ch.write(out);
                lag.recordValue(Math.max(1, (System.nanoTime() - intended) / 1000));
            }
            long end = start + total * intervalNanos;
            long drainUntil = System.nanoTime() + DRAIN.toNanos();
            while (outstanding.get() > 0 && System.nanoTime() < drainUntil) {
                LockSupport.parkNanos(1_000_000L);
            }
            long clientDrops = udpDrops((InetSocketAddress) ch.getLocalAddress());
            ch.close();
            receiver.join(TimeUnit.SECONDS.toMillis(5));
            double seconds = (Math.max(end, lastAnswer[0]) - start) / 1e9;
            return new Result(latency, lag, total, counts[0], seconds, counts[1], counts[2],
                    outstanding.get() + overwritten, clientDrops);
        }
    }
}
