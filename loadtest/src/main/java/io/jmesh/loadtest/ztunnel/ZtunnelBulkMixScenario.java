package io.jmesh.loadtest.ztunnel;

import io.jmesh.loadtest.BenchContext;
import io.jmesh.loadtest.ResultTable;
import io.jmesh.loadtest.Scenario;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * What a bulk transfer does to the request/response traffic beside it: 1 KiB at 1,000 req/s over 10 persistent
 * connections, alone and while 16 MiB transfers are echoed back to back on the same path, through direct TCP, the
 * HAProxy TLS pair (a TCP connection per tunnel) and two ztunnels (tunnels from one workload to one destination
 * share a pooled HBONE connection, as in Istio's ztunnel, whose streams' windows are lowered while more than one
 * sends), then the ztunnels with every stream's full window while shared (Istio's ztunnel, {@code
 * hbone.sharedStreamWindowBytes: 0}) and with one stream per connection.
 */
public final class ZtunnelBulkMixScenario implements Scenario {

    static final int RATE = 1000;
    static final int CONNECTIONS = 10;
    static final int SIZE = 1024;
    static final int ROUNDS = 2;
    static final String FULL_WINDOWS = "two ztunnels (HBONE, pooled), full windows while shared (Istio's)";

    @Override
    public String name() {
        return "ztunnel-bulk-mix";
    }

    @Override
    public String description() {
        return "1 KiB at 1,000 req/s alone and beside back-to-back 16 MiB transfers: direct vs HAProxy pair vs "
                + "ztunnels (pooled HBONE; with full windows while shared; one stream per connection)";
    }

    /** Per path, the requests of its quiet segments and of its segments beside a transfer, and what moved. */
    private static final class PathRun {
        final Histogram alone = histogram();
        final Histogram beside = histogram();
        long bulkBytes;
        double bulkSeconds;
        long transfers;
    }

    @Override
    public ResultTable run(BenchContext ctx) throws Exception {
        Duration segment = ctx.quick() ? Duration.ofSeconds(3) : Duration.ofSeconds(10);
        Map<String, PathRun> runs = new LinkedHashMap<>();
        try (Loads.Echo echo = new Loads.Echo(Topology.SERVER_IP);
                Topology topo = new Topology(ctx, echo.port())) {
            Path jar = ctx.serviceJar("ztunnel");
            topo.startHaproxy();
            topo.startZtunnels(jar);
            Map<String, Topology.Dialer> paths = new LinkedHashMap<>();
            paths.put("direct TCP", topo.direct());
            paths.put("HAProxy pair (TLS 1.3 mTLS)", topo.haproxy());
            paths.put("two ztunnels (HBONE, pooled)", topo.ztunnel());
            measure(ctx, paths, segment, runs);
            // the windows as Istio's ztunnel keeps them: every stream's full 4 MiB even while the connection is shared
            for (String node : List.of("node-a", "node-b")) {
                topo.extraConfig.put(node, "hbone: {sharedStreamWindowBytes: 0}\n");
            }
            topo.startZtunnels(jar);
            measure(ctx, Map.of(FULL_WINDOWS, topo.ztunnel()), segment, runs);
            topo.extraConfig.clear();
            // one stream per HBONE connection: the tunnels no longer share a connection, its TLS stream and its
            // TCP queues (nor, mostly, an event loop), as HAProxy's do not
            topo.extraPool = ", maxStreamsPerConnection: 1";
            topo.startZtunnels(jar);
            measure(ctx, Map.of("two ztunnels (HBONE), one stream per connection", topo.ztunnel()), segment, runs);
        }
        ResultTable t = new ResultTable("path", "p50 ms alone", "p99 ms alone", "p99.9 ms alone",
                "p50 ms beside bulk", "p99 ms beside bulk", "p99.9 ms beside bulk", "bulk MiB/s each way");
        runs.forEach((path, r) -> t.row(path, ms(r.alone, 50), ms(r.alone, 99), ms(r.alone, 99.9),
                ms(r.beside, 50), ms(r.beside, 99), ms(r.beside, 99.9),
                r.bulkSeconds == 0 ? null : r.bulkBytes / r.bulkSeconds / (1 << 20)));
        t.note(String.format("%d req/s of %d B over %d persistent connections, coordinated-omission safe; %d rounds of "
                + "%d s per path alone and %d s beside a loop of %d MiB transfers (each on a new connection, written "
                + "while its echo is read, then half-closed), paths taking turns. Every path shares this machine's "
                + "CPUs with the load generators and the echo server: beside a transfer every path is CPU-bound, so "
                + "compare paths within the run.", RATE, SIZE, CONNECTIONS, ROUNDS, segment.toSeconds(),
                segment.toSeconds(), SoakLoad.BULK_BYTES >> 20));
        runs.forEach((path, r) -> t.note(String.format("%s: %,d and %,d requests measured, %d transfers.", path,
                r.alone.getTotalCount(), r.beside.getTotalCount(), r.transfers)));
        t.note("ztunnel JVM flags: " + ZtunnelJvmFlags.quoted(ctx) + ".");
        t.note("TCP buffers (the kernel's, for every path alike): " + MachineState.tcpBuffers() + ".");
        t.note(MachineState.note());
        return t;
    }

    /** Warms each path (requests and transfers) and then runs its segments, the paths taking turns. */
    private static void measure(BenchContext ctx, Map<String, Topology.Dialer> paths, Duration segment,
            Map<String, PathRun> runs) throws Exception {
        for (Topology.Dialer path : paths.values()) {
            ZtunnelLatencyScenario.warmUp(path, Topology.warmup(ctx));
            for (int i = 0; i < 5; i++) {
                SoakLoad.bulkTransfer(path); // the large-frame code compiled before it is measured
            }
        }
        for (int round = 0; round < ROUNDS; round++) {
            for (Map.Entry<String, Topology.Dialer> e : paths.entrySet()) {
                PathRun r = runs.computeIfAbsent(e.getKey(), k -> new PathRun());
                Topology.Dialer path = e.getValue();
                r.alone.add(Loads.fixedRate(path, CONNECTIONS, RATE, SIZE, segment));
                // a deadline of its own too: the loop ends even if this thread never gets to stop it
                BulkLoop bulk = new BulkLoop(path, segment.plusSeconds(60));
                bulk.start();
                try {
                    Thread.sleep(200); // the first transfer under way
                    r.beside.add(Loads.fixedRate(path, CONNECTIONS, RATE, SIZE, segment));
                } finally {
                    bulk.stopAndJoin();
                }
                r.bulkBytes += bulk.bytes.get();
                r.bulkSeconds += bulk.seconds;
                r.transfers += bulk.transfers.get();
            }
        }
    }

    /** 16 MiB transfers back to back on one path until stopped or past its deadline; the one under way finishes. */
    private static final class BulkLoop extends Thread {
        private final Topology.Dialer path;
        private final long deadline;
        private volatile boolean stop;
        private volatile Exception failure;
        final AtomicLong bytes = new AtomicLong();
        final AtomicLong transfers = new AtomicLong();
        double seconds;

        BulkLoop(Topology.Dialer path, Duration atMost) {
            super("bulk-loop");
            this.path = path;
            this.deadline = System.nanoTime() + atMost.toNanos();
            setDaemon(true);
        }

        @Override
        public void run() {
            long t0 = System.nanoTime();
            try {
                while (!stop && System.nanoTime() < deadline) {
                    SoakLoad.bulkTransfer(path);
                    bytes.addAndGet(SoakLoad.BULK_BYTES);
                    transfers.incrementAndGet();
                }
            } catch (Exception e) {
                failure = e;
            }
            seconds = (System.nanoTime() - t0) / 1e9;
        }

        void stopAndJoin() throws Exception {
            stop = true;
            long waitMs = Topology.STALL_TIMEOUT_MS * 3L;
            join(waitMs);
            if (isAlive()) {
                throw new IllegalStateException("a bulk transfer still under way " + waitMs
                        + " ms after the loop was stopped (each should end within " + Topology.STALL_TIMEOUT_MS * 2
                        + " ms of its last byte written)");
            }
            if (failure != null) {
                throw failure;
            }
        }
    }

    private static Histogram histogram() {
        return new Histogram(60_000_000L, 3);
    }

    private static double ms(Histogram h, double percentile) {
        return h.getValueAtPercentile(percentile) / 1000.0;
    }
}
