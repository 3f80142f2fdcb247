package io.jmesh.ztunnel.testing;

import static org.awaitility.Awaitility.await;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.DataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * One whole ztunnel on loopback for the live fuzzers ({@code <subnet>.1}): a test CA, an echo application on the
 * local workload {@code echo} ({@code <subnet>.11}, also behind the service {@code echo.default.svc.cluster.local},
 * VIP {@code <subnet>.100}, port 80), a local client workload ({@code <subnet>.12}); and the checks every live
 * fuzzer ends with: each I/O thread still runs tasks, no deadlock, no tunnel left open.
 */
public final class FuzzNode implements AutoCloseable {

    public static final String NODE = "fuzz-node";
    public static final String SERVICE = "echo.default.svc.cluster.local";

    public final String nodeIp;
    public final String echoIp;
    public final String clientIp;
    public final String vip;
    public final int echoPort;
    public final TestCa ca;
    public final ZtunnelHarness ztunnel;
    private final Vertx vertx;

    private FuzzNode(String subnet, int echoPort, TestCa ca, ZtunnelHarness ztunnel, Vertx vertx) {
        this.nodeIp = subnet + ".1";
        this.echoIp = subnet + ".11";
        this.clientIp = subnet + ".12";
        this.vip = subnet + ".100";
        this.echoPort = echoPort;
        this.ca = ca;
        this.ztunnel = ztunnel;
        this.vertx = vertx;
    }

    /** {@code subnet}: three octets of 127/8 no other test uses, e.g. {@code "127.0.150"}. */
    public static FuzzNode start(Path dir, String subnet) throws Exception {
        Vertx vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        int echoPort = new EchoServer(vertx).start(subnet + ".11").toCompletionStage().toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: echo, name: echo, namespace: default, serviceAccount: echo, addresses: [%1$s.11],
                     node: %2$s, tunnelProtocol: HBONE,
                     services: {"default/%3$s": {ports: [{servicePort: 80, targetPort: %4$d}]}}}
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%1$s.12],
                     node: %2$s, tunnelProtocol: HBONE}
                services:
                  - {name: echo, namespace: default, hostname: %3$s, addresses: [{address: %1$s.100}],
                     ports: [{servicePort: 80, targetPort: %4$d}]}
                """.formatted(subnet, NODE, SERVICE, echoPort));
        ZtunnelHarness z = ZtunnelHarness.start(dir, NODE, setup.localNode(NODE, subnet + ".1", mesh, null), null);
        await().atMost(Duration.ofSeconds(20)).until(z::ready);
        return new FuzzNode(subnet, echoPort, setup.ca(), z, vertx);
    }

    public InetSocketAddress socks() {
        return ztunnel.socks();
    }

    /** Refusals counted so far in {@code ztunnel_connection_rejections_total}, all reasons, one direction. */
    public double rejections(boolean outbound) {
        return sum("ztunnel_connection_rejections", "direction", outbound ? "outbound" : "inbound");
    }

    /** Proxied connections open now ({@code istio_tcp_sockets_open}, both reporters). */
    public double openTunnels() {
        return sum("istio_tcp_sockets_open", null, null);
    }

    private double sum(String metric, String label, String value) {
        double total = 0;
        for (MetricSnapshot m : ztunnel.running.context().metrics().scrape(metric::equals)) {
            for (DataPointSnapshot p : m.getDataPoints()) {
                if (label == null || value.equals(p.getLabels().get(label))) {
                    total += p instanceof CounterSnapshot.CounterDataPointSnapshot c ? c.getValue()
                            : ((GaugeSnapshot.GaugeDataPointSnapshot) p).getValue();
                }
            }
        }
        return total;
    }

    /** A real client still gets through: SOCKS5 CONNECT from the client workload to the echo app, one byte back. */
    public void assertSocksServes() throws Exception {
        try (Socket s = Socks5Client.connect(socks(), clientIp, echoIp, echoPort)) {
            s.setSoTimeout(5_000);
            s.getOutputStream().write(42);
            if (s.getInputStream().read() != 42) {
                throw new AssertionError("a valid SOCKS5 CONNECT no longer relays");
            }
        }
    }

    /** Every I/O thread runs a task within 5 s, no thread is deadlocked, and every tunnel closed within 10 s. */
    public void assertHealthy() {
        VertxInternal vx = (VertxInternal) ztunnel.vertx;
        respond(vx.nettyEventLoopGroup());
        respond(vx.acceptorEventLoopGroup());
        long[] deadlocked = ManagementFactory.getThreadMXBean().findDeadlockedThreads();
        if (deadlocked != null) {
            throw new AssertionError("deadlocked threads: " + Arrays.toString(deadlocked));
        }
        await("every tunnel closed").atMost(Duration.ofSeconds(10)).until(() -> openTunnels() == 0);
    }

    private static void respond(EventExecutorGroup group) {
        for (EventExecutor loop : group) {
            if (!loop.submit(() -> { }).awaitUninterruptibly(5, TimeUnit.SECONDS)) {
                throw new AssertionError("I/O thread " + loop + " ran no task within 5 s: stuck");
            }
        }
    }

    @Override
    public void close() throws Exception {
        try {
            ztunnel.close();
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
