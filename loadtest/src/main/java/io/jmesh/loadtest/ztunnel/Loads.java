package io.jmesh.loadtest.ztunnel;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/** Load generators and the echo application for the ztunnel benchmarks. */
final class Loads {

    private Loads() {}

    /** A blocking echo server (thread per connection) on the server workload's address. */
    static final class Echo implements AutoCloseable {
        final ServerSocket server;
        final ExecutorService threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "echo");
            t.setDaemon(true);
            return t;
        });

        Echo(String ip) throws IOException {
            this(ip, 0);
        }

        Echo(String ip, int port) throws IOException {
            server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(ip, port), 1024);
            threads.execute(this::accept);
        }

        int port() {
            return server.getLocalPort();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    s.setTcpNoDelay(true);
                    threads.execute(() -> echo(s));
                } catch (IOException e) {
                    return;
                }
            }
        }

        private static void echo(Socket s) {
            try (s) {
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                byte[] buf = new byte[16384];
                int n;
                while ((n = in.read(buf)) > 0) {
                    out.write(buf, 0, n);
                }
            } catch (IOException e) {
                // client went away
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            threads.shutdownNow();
        }
    }

    /**
     * Fixed-rate request/response over persistent connections, coordinated-omission safe: each request has an
     * intended start time on a fixed schedule, and its latency is measured from that time, so a stall is charged
     * to every request it delayed.
     *
     * @return latencies in microseconds
     */
    static Histogram fixedRate(Topology.Dialer dialer, int connections, int ratePerSecond, int size, Duration d)
            throws Exception {
        return fixedRate(dialer, connections, ratePerSecond, size, d, null);
    }

    /** As above, also telling {@code slow} (when not null) of every request with its completion time. */
    static Histogram fixedRate(Topology.Dialer dialer, int connections, int ratePerSecond, int size, Duration d,
            SlowRequests slow) throws Exception {
        Histogram all = new Histogram(60_000_000L, 3);
        List<Thread> threads = new ArrayList<>();
        List<Histogram> parts = new ArrayList<>();
        long intervalNanos = 1_000_000_000L * connections / ratePerSecond;
        // the connections first, then the schedule: opening them is no request's latency (through double HBONE,
        // ten of them take longer than the schedule's head start)
        List<Socket> sockets = new ArrayList<>();
        for (int c = 0; c < connections; c++) {
            sockets.add(dialer.open());
        }
        long start = System.nanoTime() + 50_000_000L;
        long end = start + d.toNanos();
        List<Exception> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int c = 0; c < connections; c++) {
            Histogram h = new Histogram(60_000_000L, 3);
            parts.add(h);
            long offset = intervalNanos * c / connections; // spread the connections over the interval
            Socket s = sockets.get(c);
            int id = c;
            Thread t = new Thread(() -> {
                byte[] req = new byte[size];
                byte[] resp = new byte[size];
                try (s) {
                    OutputStream out = s.getOutputStream();
                    InputStream in = s.getInputStream();
                    for (long intended = start + offset; intended < end; intended += intervalNanos) {
                        long wait = intended - System.nanoTime();
                        if (wait > 0) {
                            LockSupport.parkNanos(wait);
                        }
                        out.write(req);
                        int got = 0;
                        while (got < size) {
                            int n = in.read(resp, got, size - got);
                            if (n < 0) {
                                throw new IOException("closed after " + got + " bytes");
                            }
                            got += n;
                        }
                        long now = System.nanoTime();
                        long micros = Math.max(1, (now - intended) / 1000);
                        h.recordValue(micros);
                        if (slow != null) {
                            slow.record(now, micros);
                        }
                    }
                } catch (java.net.SocketTimeoutException e) {
                    errors.add(new IOException("no response within " + Topology.STALL_TIMEOUT_MS
                            + " ms on connection " + id + ": the path stalled", e));
                } catch (Exception e) {
                    errors.add(e);
                }
            }, "fixed-rate-" + c);
            threads.add(t);
        }
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join();
        }
        if (!errors.isEmpty()) {
            throw errors.get(0);
        }
        parts.forEach(all::add);
        return all;
    }

    /** New connections per second: connect, 64-byte round trip, close; {@code concurrency} loops in parallel. */
    static double connectionRate(Topology.Dialer dialer, int concurrency, Duration d) throws Exception {
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        long end = System.nanoTime() + d.toNanos();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            Thread t = new Thread(() -> {
                byte[] msg = new byte[64];
                byte[] back = new byte[64];
                while (System.nanoTime() < end) {
                    try (Socket s = dialer.open()) {
                        s.getOutputStream().write(msg);
                        InputStream in = s.getInputStream();
                        int got = 0;
                        while (got < 64) {
                            int n = in.read(back, got, 64 - got);
                            if (n < 0) {
                                throw new IOException("closed");
                            }
                            got += n;
                        }
                        done.incrementAndGet();
                    } catch (IOException e) {
                        failed.incrementAndGet();
                    }
                }
            }, "conn-rate-" + i);
            threads.add(t);
        }
        long t0 = System.nanoTime();
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        if (failed.get() > done.get() / 100) {
            throw new IOException(failed.get() + " failed connections (of " + (done.get() + failed.get()) + ")");
        }
        return done.get() / secs;
    }
}
