package io.jmesh.localmesh.run;

import java.io.IOException;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starts the local mesh's processes, waits for each one's readiness while showing progress, and stops them
 * all (newest first: SIGTERM, then SIGKILL after a grace period) exactly once, from a shutdown hook or a call.
 *
 * <p>Every child writes stdout and stderr to {@code <logDir>/<name>.log}, appended so a second run keeps the
 * history.
 */
public final class Supervisor implements AutoCloseable {

    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final Path SETSID = Path.of("/usr/bin/setsid");

    private final Path logDir;
    private final PrintStream out;
    private final long started = System.nanoTime();
    private final Deque<Running> running = new ArrayDeque<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    private boolean closed;

    private record Running(Component component, Process process) {}

    public Supervisor(Path logDir, PrintStream out) throws IOException {
        this.logDir = Files.createDirectories(logDir);
        this.out = out;
    }

    /** Starts the components together, then waits until all are ready or {@code deadline} passes. */
    public synchronized void startAll(List<Component> components, Duration deadline)
            throws IOException, InterruptedException {
        for (Component c : components) {
            ProcessBuilder pb = new ProcessBuilder(withOwnSession(c.command())).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(c.logFile(logDir).toFile()))
                    .redirectInput(ProcessBuilder.Redirect.PIPE);
            pb.environment().putAll(c.environment());
            Process p = pb.start();
            running.push(new Running(c, p));
            progress("started %-13s pid %d, log %s", c.name(), p.pid(), c.logFile(logDir));
        }
        long until = System.nanoTime() + deadline.toNanos();
        List<Component> waiting = new ArrayList<>(components);
        while (!waiting.isEmpty()) {
            for (var it = waiting.iterator(); it.hasNext(); ) {
                Component c = it.next();
                Process p = processOf(c);
                if (!p.isAlive()) {
                    throw new IllegalStateException(c.name() + " exited with code " + p.exitValue()
                            + " before it was ready; see " + c.logFile(logDir));
                }
                if (isReady(c)) {
                    progress("ready   %s", c.name());
                    it.remove();
                }
            }
            if (!waiting.isEmpty()) {
                if (System.nanoTime() > until) {
                    throw new IllegalStateException("not ready within " + deadline.toSeconds() + " s: "
                            + waiting.stream().map(Component::name).toList() + "; see their logs in " + logDir);
                }
                Thread.sleep(200);
            }
        }
        // a readiness answer from someone else's process on the same address would otherwise pass for ours
        for (Component c : components) {
            Process p = processOf(c);
            if (!p.isAlive()) {
                throw new IllegalStateException(c.name() + " exited with code " + p.exitValue() + "; see "
                        + c.logFile(logDir));
            }
        }
    }

    /**
     * Ctrl-C in a terminal signals the whole foreground process group. Children get their own session so that
     * only this supervisor hears it and stops them once, with SIGTERM: a second signal would cut their drain.
     */
    private static List<String> withOwnSession(List<String> command) {
        if (!Files.isExecutable(SETSID)) {
            return command;
        }
        List<String> full = new ArrayList<>(List.of(SETSID.toString()));
        full.addAll(command);
        return full;
    }

    /** Elapsed time since the supervisor was created, in seconds. */
    public double elapsedSeconds() {
        return (System.nanoTime() - started) / 1e9;
    }

    public void progress(String format, Object... args) {
        out.printf("[%5.1fs] %s%n", elapsedSeconds(), String.format(format, args));
        out.flush();
    }

    private boolean isReady(Component c) {
        if (!c.namespace().isEmpty()) {
            return isReadyInNamespace(c);
        }
        try {
            HttpResponse<Void> r = http.send(HttpRequest.newBuilder(c.ready()).timeout(Duration.ofSeconds(1)).build(),
                    HttpResponse.BodyHandlers.discarding());
            return r.statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** A namespace this JVM cannot reach: asked with curl from inside it. */
    private static boolean isReadyInNamespace(Component c) {
        try {
            Process p = new ProcessBuilder("ip", "netns", "exec", c.namespace(), "curl", "-fsS", "-o", "/dev/null",
                    "--max-time", "1", c.ready().toString()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private Process processOf(Component c) {
        return running.stream().filter(r -> r.component() == c).findFirst().orElseThrow().process();
    }

    /** Stops every process, newest first; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        // SIGTERM to all first so they drain in parallel, then wait for each.
        for (Running r : running) {
            r.process().toHandle().destroy();
        }
        long until = System.nanoTime() + STOP_GRACE.toNanos();
        for (Running r : running) {
            try {
                long left = Math.max(0, until - System.nanoTime());
                if (!r.process().waitFor(left, TimeUnit.NANOSECONDS)) {
                    progress("%s did not stop within %d s; killing it", r.component().name(), STOP_GRACE.toSeconds());
                    r.process().toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
                    r.process().destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                } else {
                    progress("stopped %-13s exit %d", r.component().name(), r.process().exitValue());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                r.process().destroyForcibly();
            }
        }
        running.clear();
    }
}
