package io.jmesh.localmesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The promise of {@code make run}, through the same entry point: the whole local mesh starts, productpage reaches
 * reviews across the two nodes over mutual TLS (each side's access log names the other's SPIFFE identity), sleep
 * is denied, telemetry counts the traffic, SIGTERM leaves no process behind, and a second run reuses the state.
 */
class LocalMeshIT {

    private static final Path REPO = Path.of(System.getProperty("jmesh.repo", "../..")).toAbsolutePath().normalize();
    private static final Duration START = Duration.ofMinutes(4);     // generous: CI machines are slow and shared

    @TempDir
    Path state;

    private Process mesh;
    private final List<String> output = Collections.synchronizedList(new ArrayList<>());

    @AfterEach
    void stop() throws Exception {
        if (mesh != null && mesh.isAlive()) {
            List<ProcessHandle> children = mesh.toHandle().descendants().toList();
            mesh.toHandle().destroy();
            if (!mesh.waitFor(60, TimeUnit.SECONDS)) {
                children.forEach(ProcessHandle::destroyForcibly);
                mesh.destroyForcibly();
            }
        }
    }

    @Test
    void theLocalMeshKeepsItsPromise() throws Exception {
        start(false);
        HttpClient http = HttpClient.newHttpClient();

        // productpage -> reviews by service hostname, through node-a's SOCKS5, to node-b over HBONE
        Result allowed = curl("--interface", "127.0.10.11", "--socks5-hostname", "127.0.10.1:15080",
                "http://reviews.default.svc.cluster.local:9080/reviews");
        assertThat(allowed.exit()).as("curl as productpage: %s", allowed.output()).isZero();
        assertThat(allowed.output()).contains("\"service\":\"reviews\"");

        // sleep has no right to reviews: denied at node-b
        Result denied = curl("--interface", "127.0.10.12", "--socks5-hostname", "127.0.10.1:15080",
                "http://reviews.default.svc.cluster.local:9080/reviews");
        assertThat(denied.exit()).as("curl as sleep must fail: %s", denied.output()).isNotZero();

        // the demo page: productpage itself calls reviews through the mesh
        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create("http://127.0.10.11:9080/productpage"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).as(page.body()).isEqualTo(200);
        assertThat(page.body()).contains("Reviewer1");

        // mutual TLS between the nodes: each side's access log names the peer's SPIFFE identity
        Path logs = state.resolve("logs");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            assertThat(Files.readString(logs.resolve("ztunnel-node-a.log")))
                    .contains("spiffe://cluster.local/ns/default/sa/reviews");
            assertThat(Files.readString(logs.resolve("ztunnel-node-b.log")))
                    .contains("spiffe://cluster.local/ns/default/sa/productpage")
                    .contains("spiffe://cluster.local/ns/default/sa/sleep");
        });

        // telemetry counted the connections from the Kafka event stream
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.1.3:15014/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertThat(metrics).contains("istio_tcp_connections_opened_total").contains("source_workload=\"productpage\"");
        });

        // revocation: the operator revokes productpage with the ca CLI; the ztunnels get the new CRL from ca's trust
        // bundle stream, the pooled HBONE connection productpage's certificate authenticated is closed (by node-b,
        // whose peer is revoked, or first by node-a, whose own certificate is), and productpage gets a new
        // certificate and reaches reviews again
        Result revoke = run(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
                REPO.resolve("services/ca/target/ca.jar").toString(), "revoke",
                "--identity", "spiffe://cluster.local/ns/default/sa/productpage", "--reason", "key-compromise",
                "--state-dir", state.resolve("ca").toString(), "--trust-domain", "cluster.local");
        assertThat(revoke.exit()).as("ca revoke: %s", revoke.output()).isZero();
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            String nodeA = Files.readString(logs.resolve("ztunnel-node-a.log"));
            String nodeB = Files.readString(logs.resolve("ztunnel-node-b.log"));
            assertThat(nodeA).contains("own certificate revoked");
            assertThat(nodeA + nodeB).contains("closing hbone connection: peer certificate revoked");
        });
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            Result again = curl("--interface", "127.0.10.11", "--socks5-hostname", "127.0.10.1:15080",
                    "http://reviews.default.svc.cluster.local:9080/reviews");
            assertThat(again.exit()).as("curl as productpage after revocation: %s", again.output()).isZero();
        });

        // SIGTERM: everything stops, nothing is left behind
        List<ProcessHandle> children = mesh.toHandle().descendants().toList();
        assertThat(children).hasSizeGreaterThanOrEqualTo(7);
        mesh.toHandle().destroy();
        assertThat(mesh.waitFor(90, TimeUnit.SECONDS)).as("stops within 90 s").isTrue();
        assertThat(mesh.exitValue()).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> children.stream().noneMatch(ProcessHandle::isAlive));

        // a second run reuses the state: same root of trust, same node tokens
        byte[] root = Files.readAllBytes(state.resolve("ca/root-cert.pem"));
        byte[] token = Files.readAllBytes(state.resolve("credentials/node-a.token"));
        start(true);
        assertThat(mesh.waitFor(90, TimeUnit.SECONDS)).isTrue();
        assertThat(mesh.exitValue()).as(String.join("\n", output)).isZero();
        assertThat(Files.readAllBytes(state.resolve("ca/root-cert.pem"))).isEqualTo(root);
        assertThat(Files.readAllBytes(state.resolve("credentials/node-a.token"))).isEqualTo(token);
    }

    private void start(boolean exitWhenReady) throws Exception {
        output.clear();
        String cp = REPO.resolve("tools/local-mesh/target/classes") + File.pathSeparator
                + REPO.resolve("tools/kafka-local/target/classes");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", cp, "io.jmesh.localmesh.LocalMesh", "--repo", REPO.toString(), "--state-dir", state.toString()));
        if (exitWhenReady) {
            cmd.add("--exit-when-ready");
        }
        mesh = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        CountDownLatch ready = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(mesh.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    output.add(line);
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
        assertThat(up).as("mesh ready; output:\n%s", String.join("\n", output)).isTrue();
    }

    private record Result(int exit, String output) {}

    private static Result curl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--max-time", "20"));
        cmd.addAll(List.of(args));
        return run(cmd.toArray(new String[0]));
    }

    private static Result run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Result(p.exitValue(), out);
    }
}
