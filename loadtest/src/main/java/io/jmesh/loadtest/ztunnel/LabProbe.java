package io.jmesh.loadtest.ztunnel;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;

/**
 * The echo application and the fixed-rate client of {@link ZtunnelCaptureScenario}, run as their own JVMs inside the
 * lab's pod namespaces (the benchmark's JVM cannot reach them). Output is one line the scenario parses.
 *
 * <pre>
 *   echo &lt;ip&gt; &lt;port&gt;                                   prints "ECHO READY", serves until killed
 *   latency &lt;ip&gt; &lt;port&gt; &lt;warmup s&gt; &lt;s&gt; [socks host:port]   prints "LATENCY p50 p90 p99 p99.9 max" (µs)
 * </pre>
 */
public final class LabProbe {

    private LabProbe() {}

    public static void main(String[] args) throws Exception {
        if (args.length >= 3 && args[0].equals("echo")) {
            try (Loads.Echo echo = new Loads.Echo(args[1], Integer.parseInt(args[2]))) {
                System.out.println("ECHO READY " + echo.port());
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE);
            }
        } else if (args.length >= 5 && args[0].equals("latency")) {
            String ip = args[1];
            int port = Integer.parseInt(args[2]);
            Topology.Dialer dialer = args.length > 5 ? socks(args[5], ip, port) : direct(ip, port);
            int rate = ZtunnelLatencyScenario.RATE;
            int conns = ZtunnelLatencyScenario.CONNECTIONS;
            int size = ZtunnelLatencyScenario.SIZE;
            Loads.fixedRate(dialer, conns, rate, size, Duration.ofSeconds(Long.parseLong(args[3]))); // JIT warm-up
            Histogram h = Loads.fixedRate(dialer, conns, rate, size, Duration.ofSeconds(Long.parseLong(args[4])));
            System.out.printf("LATENCY %d %d %d %d %d%n", h.getValueAtPercentile(50), h.getValueAtPercentile(90),
                    h.getValueAtPercentile(99), h.getValueAtPercentile(99.9), h.getMaxValue());
        } else {
            System.err.println("usage: echo <ip> <port> | latency <ip> <port> <warmup s> <s> [socks host:port]");
            System.exit(2);
        }
    }

    private static Topology.Dialer direct(String ip, int port) {
        return () -> Topology.connect(new InetSocketAddress(ip, port));
    }

    private static Topology.Dialer socks(String proxy, String ip, int port) {
        int colon = proxy.lastIndexOf(':');
        InetSocketAddress p = new InetSocketAddress(proxy.substring(0, colon), Integer.parseInt(proxy.substring(colon + 1)));
        return () -> Topology.socks(p, ip, port);
    }

    /** The class path a probe JVM needs: this module's classes and HdrHistogram (also under exec:java). */
    static String classPath() {
        List<String> parts = new ArrayList<>();
        for (Class<?> c : new Class<?>[] {LabProbe.class, Histogram.class}) {
            try {
                parts.add(Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
            } catch (Exception e) {
                throw new IllegalStateException("cannot locate the classes of " + c.getName(), e);
            }
        }
        return String.join(java.io.File.pathSeparator, parts);
    }
}
