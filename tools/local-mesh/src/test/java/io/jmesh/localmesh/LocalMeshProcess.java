package io.jmesh.localmesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code make run}'s entry point started by a test as a process on a state directory, waited for until it prints
 * {@code mesh ready}, and stopped (with everything it started) by {@link #close()}.
 */
final class LocalMeshProcess implements AutoCloseable {

    static final Path REPO = Path.of(System.getProperty("jmesh.repo", "../..")).toAbsolutePath().normalize();
    private static final Duration START = Duration.ofMinutes(4);     // generous: CI machines are slow and shared

    private final Process process;
    private final List<String> output = Collections.synchronizedList(new ArrayList<>());

    private LocalMeshProcess(Process process) {
        this.process = process;
    }

    /** Starts the mesh on {@code state} and waits for {@code mesh ready}. */
    static LocalMeshProcess start(Path state, boolean exitWhenReady) throws Exception {
        String cp = REPO.resolve("tools/local-mesh/target/classes") + File.pathSeparator
                + REPO.resolve("tools/kafka-local/target/classes");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", cp, "io.jmesh.localmesh.LocalMesh", "--repo", REPO.toString(), "--state-dir", state.toString()));
        if (exitWhenReady) {
            cmd.add("--exit-when-ready");
        }
        LocalMeshProcess mesh = new LocalMeshProcess(new ProcessBuilder(cmd).redirectErrorStream(true).start());
        CountDownLatch ready = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(mesh.process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    mesh.output.add(line);
                    if (line.endsWith("mesh ready")) {
                        ready.countDown();
                    }
                }
            } catch (Exception ignored) {
                // the process ended
            }
        }, "local-mesh-output");
        reader.setDaemon(true);
        reader.start();
        boolean up = ready.await(START.toSeconds(), TimeUnit.SECONDS);
        if (!up) {
            mesh.close();
        }
        assertThat(up).as("mesh ready; output:\n%s", mesh.output()).isTrue();
        return mesh;
    }

    Process process() {
        return process;
    }

    String output() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    /** SIGTERM to the mesh; if it has not stopped within 60 s, kills it and everything it started. */
    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            List<ProcessHandle> children = process.toHandle().descendants().toList();
            process.toHandle().destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                children.forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
            }
        }
    }

    record Result(int exit, String output) {}

    /** Runs curl (at most 20 s) with the given arguments. */
    static Result curl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--max-time", "20"));
        cmd.addAll(List.of(args));
        return run(cmd.toArray(new String[0]));
    }

    /** Runs a command (at most 60 s), output and error together. */
    static Result run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Result(p.exitValue(), out);
    }
}
