package io.jmesh.loadtest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Fields of a process's {@code /proc/<pid>/status} (Linux), as the benchmarks sample memory. */
public final class ProcStatus {

    private ProcStatus() {}

    /** Resident set size, KiB; -1 when the process is gone. */
    public static long rssKib(long pid) {
        return kib(pid, "VmRSS:");
    }

    /** Peak resident set size, KiB; -1 when the process is gone. */
    public static long peakRssKib(long pid) {
        return kib(pid, "VmHWM:");
    }

    private static long kib(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(field)) {
                    return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1; // gone between two samples
        }
        return -1;
    }
}
