package io.jmesh.loadtest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** What the soaks watch of a process through its run (Linux {@code /proc}): memory, descriptors, threads. */
public final class ProcessWatch {

    private static final double MIB = 1024 * 1024;

    private ProcessWatch() {}

    /** One look at a process, {@code seconds} into the run. */
    public record Sample(double seconds, double rssMiB, long fds, long threads) {}

    public static Sample sample(long pid, double seconds) throws IOException {
        long rss = ProcStatus.rssKib(pid);
        return new Sample(seconds, rss < 0 ? Double.NaN : rss / 1024.0, count(Path.of("/proc/" + pid + "/fd")),
                count(Path.of("/proc/" + pid + "/task")));
    }

    private static long count(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.count();
        }
    }

    /** A process's threads by name, numbers taken out ({@code vert.x-eventloop-thread-#}), with their counts. */
    public static Map<String, Long> threadNames(long pid) throws IOException {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return tasks.map(t -> {
                try {
                    return Files.readString(t.resolve("comm")).strip().replaceAll("[0-9]+", "#");
                } catch (IOException e) {
                    return null; // the thread ended
                }
            }).filter(n -> n != null).collect(Collectors.groupingBy(n -> n, java.util.TreeMap::new,
                    Collectors.counting()));
        }
    }

    /** The thread names of which there are more in {@code after} than in {@code before}: "name +n, ...". */
    public static String grownThreads(Map<String, Long> before, Map<String, Long> after) {
        return after.entrySet().stream().filter(e -> e.getValue() > before.getOrDefault(e.getKey(), 0L))
                .map(e -> e.getKey() + " +" + (e.getValue() - before.getOrDefault(e.getKey(), 0L)))
                .collect(Collectors.joining(", "));
    }

    /**
     * A full collection ({@code jcmd GC.run}) of a jmesh service, then its heap in use as its own {@code /metrics}
     * at {@code metricsUrl} reports it; NaN when jcmd fails.
     */
    public static double heapAfterFullGcMiB(long pid, String metricsUrl) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), String.valueOf(pid), "GC.run")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            return Double.NaN;
        }
        return Metrics.scrape(metricsUrl).sum("jvm_memory_used_bytes", "area=\"heap\"") / MIB;
    }
}
