package io.jmesh.loadtest.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class RestarterTest {

    @TempDir
    Path dir;

    /**
     * A running process is stopped and started again with its command line, environment and working directory, its
     * output appended to the same log; the pid map follows it, and close stops the new one.
     */
    @Test
    void aProcessIsRestartedAsItWasStartedAndStoppedAtClose() throws Exception {
        Path log = dir.resolve("component.log");
        Path work = Files.createDirectories(dir.resolve("work"));
        // prints its environment variable and directory, then waits for its stdin to close: a stand-in for a service
        ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", "echo \"start $SOAK_MARK $(pwd)\"; read line")
                .directory(work.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().put("SOAK_MARK", "kept");
        Process first = pb.start();
        try {
            awaitLines(log, 1);
            Map<String, Long> pids = new ConcurrentHashMap<>(Map.of("component", first.pid()));
            try (Restarter restarter = new Restarter()) {
                Restarter.Outcome r = restarter.restart(new Restarter.Target("component",
                        p -> Files.readAllLines(log).size() >= 2, log, null), pids, System.nanoTime());
                assertThat(r.error()).isNull();
                assertThat(first.waitFor(5, TimeUnit.SECONDS)).as("the old process ended").isTrue();
                assertThat(r.newPid()).isNotEqualTo(first.pid()).isEqualTo(pids.get("component"));
                assertThat(ProcessHandle.of(r.newPid()).map(ProcessHandle::isAlive)).contains(true);
                assertThat(Files.readAllLines(log)).containsExactly("start kept " + work, "start kept " + work);
                assertThat(r.ready()).isAfterOrEqualTo(r.signalled());
                assertThat(r.describe()).startsWith("component at ");
            }
            assertThat(ProcessHandle.of(pids.get("component")).map(ProcessHandle::isAlive).orElse(false))
                    .as("close stopped the restarted process").isFalse();
        } finally {
            first.destroyForcibly();
        }
    }

    /** A process that does not come back ready is an outcome with an error, not an exception or a hang. */
    @Test
    void aProcessThatExitsBeforeItIsReadyIsReported() throws Exception {
        Path log = dir.resolve("dies.log");
        Path flag = dir.resolve("second-run");
        // the second run exits at once
        Process first = new ProcessBuilder("/bin/sh", "-c", "if [ -e " + flag + " ]; then exit 3; fi; touch " + flag
                + "; read line").redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(flag) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            try (Restarter restarter = new Restarter()) {
                Restarter.Outcome r = restarter.restart(new Restarter.Target("dies", p -> false, log, null),
                        new ConcurrentHashMap<>(Map.of("dies", first.pid())), System.nanoTime());
                assertThat(r.error()).isEqualTo("exited with code 3 before it was ready");
                assertThat(r.describe()).isEqualTo("dies failed (exited with code 3 before it was ready)");
            }
        } finally {
            first.destroyForcibly();
        }
    }

    private static void awaitLines(Path log, int n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while ((!Files.exists(log) || Files.readAllLines(log).size() < n) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }
}
