package io.jmesh.loadtest.ztunnel;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * The mixed load {@code ztunnel-soak} keeps on one path for minutes: 1 KiB request/response at a fixed rate over
 * persistent connections (latency per window of the run, from each request's intended send time), connections
 * opened and closed at a fixed rate (connect, 64-byte round trip, close), and a bulk transfer at intervals (16 MiB
 * each way, ended by a half-close). Unlike the other benchmarks' loads it counts failures and goes on: a soak reports
 * what went wrong over the whole run instead of stopping at the first error. Every loop ends at the run's end.
 */
public final class SoakLoad {

    public static final int STEADY_CONNECTIONS = 10;
    public static final int STEADY_RATE = 200;
    public static final int CHURN_LOOPS = 5;
    public static final int CHURN_RATE = 100;
    public static final int BULK_BYTES = 16 << 20;
    /** Errors kept for the report; the rest are counted. */
    private static final int ERRORS_KEPT = 5;

    /**
     * A soak's timing: its length ({@code -Dbench.soak.minutes}, 5 by default; 40 s with {@code --quick}), how often
     * its processes are sampled, and how often a bulk transfer starts.
     */
    public record Timing(Duration length, Duration sampleEvery, Duration bulkEvery) {

        public static Timing of(io.jmesh.loadtest.BenchContext ctx) {
            return ctx.quick() ? new Timing(Duration.ofSeconds(40), Duration.ofSeconds(4), Duration.ofSeconds(8))
                    : new Timing(Duration.ofMinutes(Integer.getInteger("bench.soak.minutes", 5)),
                            Duration.ofSeconds(10), Duration.ofSeconds(20));
        }
    }

    /** What one path's load did. */
    public record Figures(long requests, long requestFailures, long[] p99MicrosByWindow, long p99MicrosDuringBulk,
            long p99MicrosOtherwise, long connections, long connectionFailures, long bulkTransfers, long bulkFailures,
            List<String> firstErrors) {

        /** One sentence for a results note: "{@code path}: n requests (n failed), p99 per fifth ...". */
        public String summary(String path) {
            StringBuilder p99 = new StringBuilder();
            for (long us : p99MicrosByWindow) {
                p99.append(p99.length() == 0 ? "" : " / ").append(us < 0 ? "–" : String.format("%.2f", us / 1000.0));
            }
            return String.format("%s: %,d requests (%d failed), p99 per fifth of the run %s ms, p99 of the requests "
                    + "under way during a bulk transfer %.2f ms, of the others %.2f ms; %,d connections (%d failed); "
                    + "%d bulk transfers (%d failed)%s.", path, requests, requestFailures, p99,
                    p99MicrosDuringBulk / 1000.0, p99MicrosOtherwise / 1000.0, connections, connectionFailures,
                    bulkTransfers, bulkFailures,
                    firstErrors.isEmpty() ? "" : "; first errors: " + String.join(" | ", firstErrors));
        }
    }

    private final String path;
    private final Topology.Dialer dialer;
    private final Duration length;
    private final int windows;
    private final Duration bulkEvery;
    private final List<Thread> threads = new ArrayList<>();
    private final List<Histogram[]> steadyHistograms = new ArrayList<>();
    /** Per steady connection: the requests that were under way while a bulk transfer ran, and the others. */
    private final List<Histogram[]> bulkSplit = new ArrayList<>();
    /** Whether a bulk transfer is under way on this path. */
    private volatile boolean bulkRunning;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong requestFailures = new AtomicLong();
    private final AtomicLong connections = new AtomicLong();
    private final AtomicLong connectionFailures = new AtomicLong();
    private final AtomicLong bulkTransfers = new AtomicLong();
    private final AtomicLong bulkFailures = new AtomicLong();
    private final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
    private final AtomicLong errorCount = new AtomicLong();
    private long start;
    private long end;

    /** Every {@code bulkEvery} (the first half of it from the start) one bulk transfer. */
    public SoakLoad(String path, Topology.Dialer dialer, Duration length, int windows, Duration bulkEvery) {
        this.bulkEvery = bulkEvery;
        this.path = path;
        this.dialer = dialer;
        this.length = length;
        this.windows = windows;
    }

    /** Starts every loop; they stop by themselves at {@code length} from now. */
    public void start() {
        start = System.nanoTime() + 50_000_000L;
        end = start + length.toNanos();
        long steadyInterval = 1_000_000_000L * STEADY_CONNECTIONS / STEADY_RATE;
        for (int c = 0; c < STEADY_CONNECTIONS; c++) {
            Histogram[] perWindow = new Histogram[windows];
            for (int w = 0; w < windows; w++) {
                perWindow[w] = new Histogram(60_000_000L, 3);
            }
            steadyHistograms.add(perWindow);
            Histogram[] split = {new Histogram(60_000_000L, 3), new Histogram(60_000_000L, 3)};
            bulkSplit.add(split);
            long offset = steadyInterval * c / STEADY_CONNECTIONS;
            threads.add(new Thread(() -> steady(start + offset, steadyInterval, perWindow, split),
                    path + "-steady-" + c));
        }
        long churnInterval = 1_000_000_000L * CHURN_LOOPS / CHURN_RATE;
        for (int c = 0; c < CHURN_LOOPS; c++) {
            long offset = churnInterval * c / CHURN_LOOPS;
            threads.add(new Thread(() -> churn(start + offset, churnInterval), path + "-churn-" + c));
        }
        threads.add(new Thread(this::bulk, path + "-bulk"));
        threads.forEach(Thread::start);
    }

    /** Waits for every loop to end (they do at the run's end, or a stall timeout after it). */
    public Figures await() throws InterruptedException {
        for (Thread t : threads) {
            t.join();
        }
        long[] p99 = new long[windows];
        for (int w = 0; w < windows; w++) {
            Histogram h = new Histogram(60_000_000L, 3);
            for (Histogram[] perWindow : steadyHistograms) {
                h.add(perWindow[w]);
            }
            p99[w] = h.getTotalCount() == 0 ? -1 : h.getValueAtPercentile(99);
        }
        Histogram during = new Histogram(60_000_000L, 3);
        Histogram otherwise = new Histogram(60_000_000L, 3);
        for (Histogram[] split : bulkSplit) {
            during.add(split[0]);
            otherwise.add(split[1]);
        }
        return new Figures(requests.get(), requestFailures.get(), p99, p99(during), p99(otherwise), connections.get(),
                connectionFailures.get(), bulkTransfers.get(), bulkFailures.get(), List.copyOf(errors));
    }

    private static long p99(Histogram h) {
        return h.getTotalCount() == 0 ? -1 : h.getValueAtPercentile(99);
    }

    private void failed(AtomicLong counter, String what, Exception e) {
        counter.incrementAndGet();
        if (errorCount.getAndIncrement() < ERRORS_KEPT) {
            errors.add(what + " at " + (System.nanoTime() - start) / 1_000_000_000L + " s: " + e);
        }
    }

    private static void pace(long at) {
        long wait = at - System.nanoTime();
        if (wait > 0) {
            LockSupport.parkNanos(wait);
        }
    }

    /** One persistent connection (dialed again after a failure), one request per {@code interval}. */
    private void steady(long first, long interval, Histogram[] perWindow, Histogram[] bulkSplit) {
        byte[] req = new byte[1024];
        byte[] resp = new byte[1024];
        Socket s = null;
        long intended = first;
        while (intended < end) {
            pace(intended);
            try {
                if (s == null) {
                    s = dialer.open();
                }
                boolean bulkAtStart = bulkRunning;
                s.getOutputStream().write(req);
                readFully(s.getInputStream(), resp);
                long micros = Math.min(60_000_000L, Math.max(1, (System.nanoTime() - intended) / 1000));
                int w = (int) Math.min(windows - 1, (intended - start) * windows / (end - start));
                perWindow[Math.max(0, w)].recordValue(micros);
                bulkSplit[bulkAtStart || bulkRunning ? 0 : 1].recordValue(micros);
                requests.incrementAndGet();
            } catch (IOException e) {
                failed(requestFailures, "request", e);
                closeQuietly(s);
                s = null;
                // the requests whose time passed while this one failed are failures too, not silently skipped
                long now = System.nanoTime();
                while (intended + interval < Math.min(now, end)) {
                    requestFailures.incrementAndGet();
                    intended += interval;
                }
            }
            intended += interval;
        }
        closeQuietly(s);
    }

    private void churn(long first, long interval) {
        byte[] msg = new byte[64];
        byte[] back = new byte[64];
        for (long at = first; at < end; at += interval) {
            pace(at);
            try (Socket s = dialer.open()) {
                s.getOutputStream().write(msg);
                readFully(s.getInputStream(), back);
                connections.incrementAndGet();
            } catch (IOException e) {
                failed(connectionFailures, "connection", e);
            }
        }
    }

    /** Every {@link #bulkEvery}: one {@link #bulkTransfer}. */
    private void bulk() {
        for (long at = start + bulkEvery.toNanos() / 2; at < end; at += bulkEvery.toNanos()) {
            pace(at);
            bulkRunning = true;
            try {
                bulkTransfer(dialer);
                bulkTransfers.incrementAndGet();
            } catch (IOException e) {
                failed(bulkFailures, "bulk transfer", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } finally {
                bulkRunning = false;
            }
        }
    }

    /** 16 MiB written on a new connection while the echo comes back, then a half-close, the echo's end and EOF. */
    public static void bulkTransfer(Topology.Dialer dialer) throws IOException, InterruptedException {
        try (Socket s = dialer.open()) {
            AtomicLong echoed = new AtomicLong();
            Thread reader = new Thread(() -> {
                byte[] buf = new byte[65536];
                try {
                    InputStream in = s.getInputStream();
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        echoed.addAndGet(n);
                    }
                } catch (IOException e) {
                    echoed.set(-1 - echoed.get());
                }
            }, "bulk-reader");
            reader.start();
            OutputStream out = s.getOutputStream();
            byte[] chunk = new byte[65536];
            for (int sent = 0; sent < BULK_BYTES; sent += chunk.length) {
                out.write(chunk);
            }
            s.shutdownOutput();
            reader.join(Topology.STALL_TIMEOUT_MS * 2L);
            if (echoed.get() != BULK_BYTES) {
                throw new IOException("echoed " + (echoed.get() < 0 ? -1 - echoed.get() + " bytes, then failed"
                        : echoed.get() + " bytes") + " of " + BULK_BYTES);
            }
        }
    }

    private static void readFully(InputStream in, byte[] into) throws IOException {
        int got = 0;
        while (got < into.length) {
            int n = in.read(into, got, into.length - got);
            if (n < 0) {
                throw new IOException("closed after " + got + " of " + into.length + " bytes");
            }
            got += n;
        }
    }

    private static void closeQuietly(Socket s) {
        if (s != null) {
            try {
                s.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }
}
