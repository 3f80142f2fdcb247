package io.jmesh.testing;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A service jar running as its own process, the way an operator runs it: {@code java -jar <service>.jar}. Its
 * JSON log lines are captured (and copied to a file) so a test can wait for one and assert on the rest.
 *
 * <p>{@link #close()} sends SIGTERM, waits, then kills: no process outlives its test.
 */
public final class ServiceProcess implements AutoCloseable {

    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Thread pump;

    private ServiceProcess(Process process, Path logFile) {
        this.process = process;
        this.pump = new Thread(() -> pump(logFile), "service-process-log");
        this.pump.setDaemon(true);
        this.pump.start();
    }

    public static Builder builder(Path jar) {
        return new Builder(jar);
    }

    /** Every line the process wrote so far (stdout and stderr interleaved). */
    public List<String> lines() {
        return List.copyOf(lines);
    }

    /** Lines that are JSON objects, parsed. */
    public List<JsonObject> jsonLines() {
        List<JsonObject> out = new ArrayList<>();
        for (String l : lines) {
            JsonObject o = parse(l);
            if (o != null) {
                out.add(o);
            }
        }
        return out;
    }

    /**
     * Waits until a JSON log line matches; fails with the captured output if the process exits first or the
     * timeout passes.
     */
    public JsonObject awaitLog(Predicate<JsonObject> match, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int seen = 0;
        while (System.nanoTime() < deadline) {
            List<String> snapshot = lines;
            for (int i = seen; i < snapshot.size(); i++) {
                JsonObject o = parse(snapshot.get(i));
                if (o != null && match.test(o)) {
                    return o;
                }
            }
            seen = snapshot.size();
            if (!process.isAlive() && !pump.isAlive()) {
                throw new AssertionError("process exited with " + process.exitValue()
                        + " before the expected log line; output:\n" + String.join("\n", lines));
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no matching log line within " + timeout + "; output:\n" + String.join("\n", lines));
    }

    /** Waits for a line whose {@code msg} equals {@code msg}. */
    public JsonObject awaitMessage(String msg, Duration timeout) throws InterruptedException {
        return awaitLog(o -> msg.equals(o.getString("msg")), timeout);
    }

    /** Sends SIGTERM (what Kubernetes and Ctrl-C-in-a-supervisor send). */
    public void terminate() {
        // ProcessHandle.destroy sends SIGTERM without closing our end of the pipes (Process.destroy closes them,
        // and the last log lines would be lost)
        process.toHandle().destroy();
    }

    /** Waits for exit and returns the exit code; fails if it does not exit in time. */
    public int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("process still running after " + timeout + "; output:\n" + String.join("\n", lines));
        }
        pump.join(2000);
        return process.exitValue();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public ProcessHandle handle() {
        return process.toHandle();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.toHandle().destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
        pump.join(2000);
    }

    private void pump(Path logFile) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
             Writer w = logFile == null ? Writer.nullWriter() : Files.newBufferedWriter(logFile)) {
            String line;
            while ((line = r.readLine()) != null) {
                lines.add(line);
                w.write(line);
                w.write('\n');
                w.flush();
            }
        } catch (IOException e) {
            lines.add("(log capture failed: " + e + ")");
        }
    }

    private static JsonObject parse(String line) {
        if (!line.startsWith("{")) {
            return null;
        }
        try {
            return new JsonObject(line);
        } catch (DecodeException e) {
            return null;
        }
    }

    public static final class Builder {
        private final Path jar;
        private final List<String> jvmArgs = new ArrayList<>(List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"));
        private final List<String> args = new ArrayList<>();
        private final Map<String, String> env = new LinkedHashMap<>();
        private Path logFile;
        private Path workDir;

        private Builder(Path jar) {
            this.jar = jar;
        }

        public Builder jvmArgs(String... a) {
            jvmArgs.addAll(List.of(a));
            return this;
        }

        public Builder args(String... a) {
            args.addAll(List.of(a));
            return this;
        }

        public Builder env(String name, String value) {
            env.put(name, value);
            return this;
        }

        public Builder logFile(Path file) {
            this.logFile = file;
            return this;
        }

        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        public ServiceProcess start() {
            if (!Files.isRegularFile(jar)) {
                throw new IllegalStateException("service jar " + jar + " does not exist (run `mvn package` first)");
            }
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.addAll(jvmArgs);
            cmd.add("-jar");
            cmd.add(jar.toString());
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            // a clean environment for MESH_ variables, so the developer's shell cannot change the test
            pb.environment().keySet().removeIf(k -> k.startsWith("MESH_"));
            pb.environment().putAll(env);
            if (workDir != null) {
                pb.directory(workDir.toFile());
            }
            try {
                return new ServiceProcess(pb.start(), logFile);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
