package io.jmesh.testing.netns;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One Linux network namespace made by a test: runs commands inside it and starts long-lived processes there.
 * Names are {@code <lab prefix>-<role>}, so a lab's namespaces can be found (and removed) by prefix.
 */
public final class Netns {

    private final String name;
    private final List<Process> started = new ArrayList<>();

    Netns(String name) {
        this.name = name;
    }

    /** The namespace's name, as {@code ip netns} knows it. */
    public String name() {
        return name;
    }

    /**
     * Runs a command inside the namespace and returns its output (stdout and stderr); throws when it fails or
     * runs longer than 30 s.
     */
    public String run(String... command) {
        return Netns.exec(prefixed(command));
    }

    /** Like {@link #run} but returns the exit code instead of throwing. */
    public Result tryRun(String... command) {
        return Netns.execResult(prefixed(command), 30);
    }

    /**
     * Starts a long-lived process inside the namespace, output appended to {@code log}. It is killed when the
     * lab closes, if still running.
     */
    public Process start(Path log, String... command) {
        try {
            Process p = new ProcessBuilder(prefixed(command)).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            synchronized (started) {
                started.add(p);
            }
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("starting " + String.join(" ", command) + " in " + name, e);
        }
    }

    void stopProcesses() {
        List<Process> copy;
        synchronized (started) {
            copy = List.copyOf(started);
        }
        for (Process p : copy) {
            p.toHandle().descendants().forEach(ProcessHandle::destroy);
            p.toHandle().destroy();
        }
        for (Process p : copy) {
            try {
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }

    private List<String> prefixed(String... command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(command));
        return full;
    }

    /** A finished command. */
    public record Result(int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    static String exec(List<String> command) {
        Result r = execResult(command, 30);
        if (!r.ok()) {
            throw new IllegalStateException(String.join(" ", command) + " failed with exit code " + r.exitCode()
                    + ": " + r.output().strip());
        }
        return r.output();
    }

    static Result execResult(List<String> command, int timeoutSeconds) {
        try {
            Path out = Files.createTempFile("netns-cmd", ".out");
            try {
                Process p = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(out.toFile()).start();
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                    return new Result(124, "timed out after " + timeoutSeconds + " s: " + String.join(" ", command));
                }
                return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted: " + String.join(" ", command), e);
        }
    }
}
