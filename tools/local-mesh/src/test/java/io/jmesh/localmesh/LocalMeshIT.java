package io.jmesh.localmesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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

    @TempDir
    Path state;

    private LocalMeshProcess mesh;

    @AfterEach
    void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
    }

    @Test
    void theLocalMeshKeepsItsPromise() throws Exception {
        mesh = LocalMeshProcess.start(state, false);
        HttpClient http = HttpClient.newHttpClient();

        // productpage -> reviews by service hostname, through node-a's SOCKS5, to node-b over HBONE
        LocalMeshProcess.Result allowed = LocalMeshProcess.curl("--interface", "127.0.10.11", "--socks5-hostname", "127.0.10.1:15080",
                "http://reviews.default.svc.cluster.local:9080/reviews");
        assertThat(allowed.exit()).as("curl as productpage: %s", allowed.output()).isZero();
        assertThat(allowed.output()).contains("\"service\":\"reviews\"");

        // sleep has no right to reviews: denied at node-b
        LocalMeshProcess.Result denied = LocalMeshProcess.curl("--interface", "127.0.10.12", "--socks5-hostname", "127.0.10.1:15080",
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
        // each process names itself and its version the way Istio's dashboards read it
        String ztunnelMetrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.10.1:15020/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        assertThat(ztunnelMetrics).containsPattern("istio_build\\{component=\"ztunnel\",tag=\"\\d+\\.\\d+[^\"]*\"} 1.0");

        // DNS: productpage asks node-a's ztunnel (15053) for the reviews Service and gets its VIP, authoritatively
        try (java.net.DatagramSocket dns = new java.net.DatagramSocket(new java.net.InetSocketAddress("127.0.10.11", 0))) {
            dns.setSoTimeout(5000);
            java.io.ByteArrayOutputStream q = new java.io.ByteArrayOutputStream();
            q.writeBytes(new byte[] {0x4a, 0x4d, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0});
            for (String label : "reviews.default.svc.cluster.local".split("\\.")) {
                q.write(label.length());
                q.writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            }
            q.writeBytes(new byte[] {0, 0, 1, 0, 1});
            dns.send(new java.net.DatagramPacket(q.toByteArray(), q.size(),
                    new java.net.InetSocketAddress("127.0.10.1", 15053)));
            byte[] answer = new byte[512];
            java.net.DatagramPacket p = new java.net.DatagramPacket(answer, answer.length);
            dns.receive(p);
            assertThat(answer[3] & 0x0F).as("RCODE").isZero();
            assertThat(answer[2] & 0x04).as("authoritative").isNotZero();
            assertThat(answer[7]).as("A records").isEqualTo((byte) 1);
            assertThat(java.net.InetAddress.getByAddress(java.util.Arrays.copyOfRange(answer, p.getLength() - 4,
                    p.getLength())).getHostAddress()).isEqualTo(io.jmesh.localmesh.run.Layout.REVIEWS_VIP);
        }

        // revocation: the operator revokes productpage with the ca CLI; the ztunnels get the new CRL from ca's trust
        // bundle stream, the pooled HBONE connection productpage's certificate authenticated is closed (by node-b,
        // whose peer is revoked, or first by node-a, whose own certificate is), and productpage gets a new
        // certificate and reaches reviews again
        LocalMeshProcess.Result revoke = LocalMeshProcess.run(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
                LocalMeshProcess.REPO.resolve("services/ca/target/ca.jar").toString(), "revoke",
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
            LocalMeshProcess.Result again = LocalMeshProcess.curl("--interface", "127.0.10.11", "--socks5-hostname", "127.0.10.1:15080",
                    "http://reviews.default.svc.cluster.local:9080/reviews");
            assertThat(again.exit()).as("curl as productpage after revocation: %s", again.output()).isZero();
        });

        // SIGTERM: everything stops, nothing is left behind
        Process process = mesh.process();
        List<ProcessHandle> children = process.toHandle().descendants().toList();
        assertThat(children).hasSizeGreaterThanOrEqualTo(7);
        process.toHandle().destroy();
        assertThat(process.waitFor(90, TimeUnit.SECONDS)).as("stops within 90 s").isTrue();
        assertThat(process.exitValue()).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> children.stream().noneMatch(ProcessHandle::isAlive));

        // a second run reuses the state: same root of trust, same node tokens
        byte[] root = Files.readAllBytes(state.resolve("ca/root-cert.pem"));
        byte[] token = Files.readAllBytes(state.resolve("credentials/node-a.token"));
        mesh = LocalMeshProcess.start(state, true);
        assertThat(mesh.process().waitFor(90, TimeUnit.SECONDS)).isTrue();
        assertThat(mesh.process().exitValue()).as(mesh.output()).isZero();
        assertThat(Files.readAllBytes(state.resolve("ca/root-cert.pem"))).isEqualTo(root);
        assertThat(Files.readAllBytes(state.resolve("credentials/node-a.token"))).isEqualTo(token);
    }
}
