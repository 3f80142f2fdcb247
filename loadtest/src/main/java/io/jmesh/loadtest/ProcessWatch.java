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

    /** The soaks' table: one row per process ({@link #row}). */
    public static ResultTable table() {
        return new ResultTable("process", "RSS start MiB", "RSS middle MiB", "RSS end MiB", "RSS max MiB",
                "heap after full GC before MiB", "heap after full GC after MiB", "fds start", "fds max",
                "fds after load", "threads start", "threads end");
    }

    /**
     * A process's row: its samples through the run, one more after the load, and its heap after a full collection
     * before and after (null: not read).
     */
    public static void row(ResultTable t, String name, java.util.List<Sample> samples, Sample after, Double heapBefore,
            Double heapAfter) {
        Sample first = samples.get(0);
        Sample last = samples.get(samples.size() - 1);
        t.row(name, first.rssMiB(), samples.get(samples.size() / 2).rssMiB(), last.rssMiB(),
                samples.stream().mapToDouble(Sample::rssMiB).filter(r -> !Double.isNaN(r)).max().orElse(Double.NaN),
                heapBefore != null ? (Object) heapBefore : "–", heapAfter != null ? (Object) heapAfter : "–",
                first.fds(), samples.stream().mapToLong(Sample::fds).max().orElse(-1), after.fds(), first.threads(),
                last.threads());
    }

    /**
     * Samples each process of {@code pids} (name to pid) every {@code every} from {@code t0} to {@code end}
     * ({@link System#nanoTime} values); seconds are counted from {@code t0}. Each look reads the process's pid from
     * {@code pids} again, so a concurrent map kept up to date follows a process that is restarted.
     */
    public static Map<String, java.util.List<Sample>> sampleUntil(Map<String, Long> pids, long t0, long end,
            java.time.Duration every) throws IOException, InterruptedException {
        Map<String, java.util.List<Sample>> samples = new java.util.LinkedHashMap<>();
        pids.keySet().forEach(name -> samples.put(name, new java.util.ArrayList<>()));
        for (long next = t0; next <= end; next += every.toNanos()) {
            long wait = next - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
            for (Map.Entry<String, Long> p : pids.entrySet()) {
                samples.get(p.getKey()).add(sample(p.getValue(), (System.nanoTime() - t0) / 1e9));
            }
        }
        return samples;
    }

    /** One look at {@code pid}; NaN and -1 while there is no such process (one being restarted). */
    public static Sample sample(long pid, double seconds) throws IOException {
        if (!Files.isDirectory(Path.of("/proc/" + pid + "/task"))) {
            return new Sample(seconds, Double.NaN, -1, -1);
        }
        long rss = ProcStatus.rssKib(pid);
        return new Sample(seconds, rss < 0 ? Double.NaN : rss / 1024.0, count(Path.of("/proc/" + pid + "/fd")),
                count(Path.of("/proc/" + pid + "/task")));
    }

    private static long count(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.count();
        } catch (java.nio.file.NoSuchFileException e) {
            return -1; // the process ended between the look and the count
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
