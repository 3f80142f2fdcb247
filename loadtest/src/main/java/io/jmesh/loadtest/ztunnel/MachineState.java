package io.jmesh.loadtest.ztunnel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What else this machine was doing during a run, for the tables' notes: the figures depend on it. */
public final class MachineState {

    private MachineState() {}

    /** The note the ztunnel latency and connection tables end with. */
    public static String note() {
        return "Machine load average at the end (" + Runtime.getRuntime().availableProcessors()
                + " CPUs shared with other builds): " + loadAverage() + ". DAMON proactive reclaim (kdamond): "
                + damonState() + ".";
    }

    /**
     * The kernel's TCP buffer limits: how many bytes a connection may hold queued in the kernel, which is where a
     * busy receiver's backlog waits (docs/ztunnel.md, "Not done yet").
     */
    public static String tcpBuffers() {
        List<String> parts = new ArrayList<>();
        for (String name : new String[] {"tcp_rmem", "tcp_wmem", "tcp_notsent_lowat"}) {
            try {
                // not Files.readString: on JDK 17 it returns the first byte of a /proc/sys file only
                String v = Files.readAllLines(Path.of("/proc/sys/net/ipv4", name)).get(0).trim()
                        .replaceAll("\\s+", " ");
                parts.add("net.ipv4." + name + " = " + v);
            } catch (IOException e) {
                parts.add("net.ipv4." + name + " unknown");
            }
        }
        return String.join(", ", parts);
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /**
     * Whether the kernel's DAMON proactive reclaim (kdamond) is running: on this VM it is, and it is most of the
     * ztunnels' latency tail (docs/ztunnel.md, "Where the latency tail is").
     */
    static String damonState() {
        Path kdamonds = Path.of("/sys/kernel/mm/damon/admin/kdamonds");
        if (!Files.isDirectory(kdamonds)) {
            return "not present";
        }
        List<String> states = new ArrayList<>();
        try (var dirs = Files.list(kdamonds)) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                Path state = d.resolve("state");
                if (Files.isReadable(state)) {
                    states.add(Files.readString(state).trim());
                }
            }
        } catch (IOException e) {
            return "unknown";
        }
        return states.isEmpty() ? "no kdamond" : String.join(", ", states);
    }
}
