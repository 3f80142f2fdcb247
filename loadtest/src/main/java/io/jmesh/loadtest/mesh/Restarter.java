package io.jmesh.loadtest.mesh;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Restarts processes of a running local mesh one at a time, as a rolling update or a crash-restart would: SIGTERM
 * (or SIGKILL: a crash), wait for the exit, start the same command line with the same environment and working
 * directory (read from {@code /proc}), wait until it is ready. The new processes are this JVM's children;
 * {@link #close} stops them.
 */
final class Restarter implements AutoCloseable {

    private static final Duration STOP_GRACE = Duration.ofSeconds(40);
    private static final Duration READY_DEADLINE = Duration.ofSeconds(120);

    /** How a process shows it is ready again. */
    interface Readiness {
        boolean ready(Process p) throws IOException, InterruptedException;
    }

    /**
     * One process to restart: {@code log} receives its output (appended: its history stays in one file), or, for
     * the Kafka broker, its stderr while stdout goes to {@code stdout}.
     */
    record Target(String name, Readiness readiness, Path log, Path stdout) {}

    /**
     * What one restart took: seconds from SIGTERM to exit, and from exit to ready; {@code error} null when it worked.
     * {@code signalled} and {@code ready} are wall-clock times (ready: when it was found ready, or gave up).
     */
    record Outcome(String name, long oldPid, long newPid, double atSeconds, double stopSeconds, double readySeconds,
            String error, Instant signalled, Instant ready) {

        String describe() {
            return error != null ? name + " failed (" + error + ")"
                    : String.format("%s at %.0f s (stopped in %.1f s, ready %.1f s later)", name, atSeconds,
                            stopSeconds, readySeconds);
        }
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    /** The processes started, by target name (the latest of each). */
    private final Map<String, Process> started = new java.util.LinkedHashMap<>();
    /** SIGKILL instead of SIGTERM: the process gets no chance to drain, flush or commit. */
    private final boolean kill;

    /** A restarter that stops with SIGTERM, or with SIGKILL when {@code kill}. */
    Restarter(boolean kill) {
        this.kill = kill;
    }

    Restarter() {
        this(false);
    }

    /** The signal a restart sends. */
    String signal() {
        return kill ? "SIGKILL" : "SIGTERM";
    }

    /** Ready once {@code url} answers 200 (a jmesh service's {@code /healthz/ready}). */
    static Readiness http(String url) {
        URI uri = URI.create(url);
        return p -> {
            try {
                return HTTP.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(1)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
            } catch (IOException e) {
                return false;
            }
        };
    }

    /** Ready once {@code file} (the process's stdout) holds {@code line}: the Kafka broker's "KAFKA READY". */
    static Readiness printed(Path file, String line) {
        return p -> Files.exists(file) && Files.readString(file).contains(line);
    }

    /**
     * Restarts {@code pid} as {@code target}; {@code pids} (name to pid) is updated to the new process as soon as it
     * runs. Never throws: what went wrong is the outcome's error.
     */
    Outcome restart(Target target, Map<String, Long> pids, long t0) {
        long pid = pids.get(target.name());
        double at = (System.nanoTime() - t0) / 1e9;
        Instant signalled = Instant.now();
        try {
            List<String> command = nulSeparated(Path.of("/proc", Long.toString(pid), "cmdline"));
            List<String> environment = nulSeparated(Path.of("/proc", Long.toString(pid), "environ"));
            Path cwd = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "cwd"));
            ProcessHandle old = ProcessHandle.of(pid).orElseThrow(() -> new IOException("pid " + pid + " is gone"));
            long stopping = System.nanoTime();
            if (kill) {
                old.destroyForcibly();
            } else {
                old.destroy();
            }
            try {
                old.onExit().get(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                old.destroyForcibly();
                return new Outcome(target.name(), pid, -1, at, Double.NaN, Double.NaN,
                        "did not stop within " + STOP_GRACE.toSeconds() + " s of " + signal(), signalled,
                        Instant.now());
            }
            long exited = System.nanoTime();
            ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile())
                    .redirectInput(ProcessBuilder.Redirect.PIPE); // the broker lives while its stdin stays open
            if (target.stdout() != null) {
                pb.redirectOutput(target.stdout().toFile())
                        .redirectError(ProcessBuilder.Redirect.appendTo(target.log().toFile()));
            } else {
                pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(target.log().toFile()));
            }
            pb.environment().clear();
            for (String kv : environment) {
                int eq = kv.indexOf('=');
                if (eq > 0) {
                    pb.environment().put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
            Process p = pb.start();
            synchronized (started) {
                started.put(target.name(), p);
            }
            pids.put(target.name(), p.pid());
            long until = System.nanoTime() + READY_DEADLINE.toNanos();
            while (!target.readiness().ready(p)) {
                if (!p.isAlive()) {
                    return new Outcome(target.name(), pid, p.pid(), at, (exited - stopping) / 1e9, Double.NaN,
                            "exited with code " + p.exitValue() + " before it was ready", signalled, Instant.now());
                }
                if (System.nanoTime() > until) {
                    return new Outcome(target.name(), pid, p.pid(), at, (exited - stopping) / 1e9, Double.NaN,
                            "not ready within " + READY_DEADLINE.toSeconds() + " s", signalled, Instant.now());
                }
                Thread.sleep(100);
            }
            return new Outcome(target.name(), pid, p.pid(), at, (exited - stopping) / 1e9,
                    (System.nanoTime() - exited) / 1e9, null, signalled, Instant.now());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome(target.name(), pid, -1, at, Double.NaN, Double.NaN, "interrupted", signalled,
                    Instant.now());
        } catch (Exception e) {
            return new Outcome(target.name(), pid, -1, at, Double.NaN, Double.NaN, e.toString(), signalled,
                    Instant.now());
        }
    }

    /** A {@code /proc} file of NUL-separated strings ({@code cmdline}, {@code environ}). */
    static List<String> nulSeparated(Path file) throws IOException {
        String all = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        List<String> parts = new ArrayList<>();
        for (String s : all.split("\0")) {
            if (!s.isEmpty()) {
                parts.add(s);
            }
        }
        if (parts.isEmpty()) {
            throw new IOException(file + " is empty (the process is a zombie or gone)");
        }
        return parts;
    }

    /**
     * Stops the processes this restarter started whose target name {@code which} accepts, all at once with SIGTERM,
     * then waits for each (SIGKILL after the grace period).
     */
    void stop(java.util.function.Predicate<String> which) throws InterruptedException {
        List<Process> chosen = new ArrayList<>();
        synchronized (started) {
            for (var it = started.entrySet().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (which.test(e.getKey())) {
                    chosen.add(e.getValue());
                    it.remove();
                }
            }
        }
        chosen.forEach(Process::destroy);
        for (Process p : chosen) {
            if (!p.waitFor(STOP_GRACE.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    /** Stops whatever this restarter started and still runs. */
    @Override
    public void close() throws InterruptedException {
        stop(name -> true);
    }
}
