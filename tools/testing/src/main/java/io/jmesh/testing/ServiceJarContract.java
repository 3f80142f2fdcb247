package io.jmesh.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every service's runnable jar promises an operator, run against the real jar as a process: JSON logs, the
 * effective configuration printed once with secrets redacted, unknown keys rejected by name, {@code /healthz/ready}
 * and {@code /metrics} on the admin port, and a clean exit on SIGTERM.
 *
 * <p>A service module subclasses this in a {@code *IT} (run by failsafe after {@code package}, which sets
 * {@code jmesh.service.jar}) and supplies a minimal configuration that lets it start alone.
 */
@Timeout(120)
public abstract class ServiceJarContract {

    @TempDir
    protected Path dir;

    /** YAML that lets the service start on its own, with the admin server on 127.0.0.1 port 0. */
    protected abstract String minimalConfig(Path dir) throws Exception;

    /** The service's readiness once started alone; most are ready at once, some need peers. */
    protected int expectedReadyStatus() {
        return 200;
    }

    protected Path jar() {
        String p = System.getProperty("jmesh.service.jar");
        if (p == null) {
            throw new IllegalStateException("system property jmesh.service.jar is not set (run with failsafe)");
        }
        return Path.of(p);
    }

    @Test
    void startsServesHealthAndMetricsThenDrainsOnSigterm() throws Exception {
        Path config = dir.resolve("config.yaml");
        Files.writeString(config, minimalConfig(dir));
        try (ServiceProcess p = ServiceProcess.builder(jar()).args("--config", config.toString())
                .logFile(dir.resolve("service.log")).workDir(dir).start()) {
            JsonObject effective = p.awaitMessage("effective configuration", Duration.ofSeconds(60));
            assertTrue(effective.getString("config").startsWith("{"), "config printed as JSON");
            JsonObject started = p.awaitMessage("started", Duration.ofSeconds(60));
            String admin = started.getString("admin");
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> ready = awaitStatus(http, "http://" + admin + "/healthz/ready", expectedReadyStatus());
            assertEquals(expectedReadyStatus(), ready.statusCode(), ready.body());
            HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create("http://" + admin + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, metrics.statusCode());
            assertTrue(metrics.body().contains("jvm_memory_used_bytes"), "JVM metrics exposed");

            p.terminate();
            assertEquals(0, p.awaitExit(Duration.ofSeconds(60)), "clean exit on SIGTERM");
            assertTrue(p.jsonLines().stream().anyMatch(o -> "stopped".equals(o.getString("msg"))),
                    () -> "logs its stop; output:\n" + String.join("\n", p.lines()));
            for (String line : p.lines()) {
                if (!line.isBlank()) {
                    assertTrue(line.startsWith("{"), "every line is JSON: " + line);
                }
            }
        }
    }

    /**
     * A signal while the service is still starting (a first start generating its state, waiting for a peer) ends
     * it with exit 0, not as a failed start, and leaves state that the next start can use.
     */
    @Test
    void sigtermDuringStartUpExitsCleanlyAndLeavesUsableState() throws Exception {
        Path config = dir.resolve("config.yaml");
        Files.writeString(config, minimalConfig(dir));
        try (ServiceProcess p = ServiceProcess.builder(jar()).args("--config", config.toString())
                .logFile(dir.resolve("interrupted.log")).workDir(dir).start()) {
            p.awaitMessage("effective configuration", Duration.ofSeconds(60));
            p.terminate();
            assertEquals(0, p.awaitExit(Duration.ofSeconds(60)),
                    () -> "exit 0 on SIGTERM during start-up; output:\n" + String.join("\n", p.lines()));
            assertFalse(p.jsonLines().stream().anyMatch(o -> String.valueOf(o.getString("msg")).startsWith("failed to start")),
                    () -> "not reported as a failed start; output:\n" + String.join("\n", p.lines()));
        }
        try (ServiceProcess p = ServiceProcess.builder(jar()).args("--config", config.toString())
                .logFile(dir.resolve("restarted.log")).workDir(dir).start()) {
            p.awaitMessage("started", Duration.ofSeconds(60));
            p.terminate();
            assertEquals(0, p.awaitExit(Duration.ofSeconds(60)),
                    () -> "the next start uses what the interrupted one left; output:\n" + String.join("\n", p.lines()));
        }
    }

    @Test
    void unknownKeysAreRejectedByName() throws Exception {
        Path config = dir.resolve("bad.yaml");
        Files.writeString(config, minimalConfig(dir) + "\nnoSuchKey: 1\n");
        try (ServiceProcess p = ServiceProcess.builder(jar()).args("--config", config.toString()).workDir(dir).start()) {
            assertEquals(2, p.awaitExit(Duration.ofSeconds(60)));
            assertTrue(String.join("\n", p.lines()).contains("unknown key 'noSuchKey'"), String.join("\n", p.lines()));
            assertFalse(p.isAlive());
        }
    }

    private static HttpResponse<String> awaitStatus(HttpClient http, String url, int status) throws Exception {
        HttpResponse<String> last = null;
        for (int i = 0; i < 300; i++) {
            last = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
            if (last.statusCode() == status) {
                return last;
            }
            Thread.sleep(100);
        }
        return last;
    }
}
