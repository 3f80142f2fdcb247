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
