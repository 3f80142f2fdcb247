package io.jmesh.ztunnel.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ztunnel configured with {@code telemetry.removeLabels}: its {@code istio_tcp_*} series leave those labels out,
 * so two clients of one workload that differ only in their identities are one series.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RemovedLabelsNodeTest {

    static final String NODE_IP = "127.0.98.1";
    static final String CLIENT_A_IP = "127.0.98.11";
    static final String CLIENT_B_IP = "127.0.98.12";
    static final String SERVER_IP = "127.0.98.20";

    @TempDir
    Path dir;

    @Test
    void clientsThatDifferOnlyInRemovedLabelsShareTheirSeries() throws Exception {
        Vertx vertx = Vertx.vertx();
        ZtunnelHarness node = null;
        try {
            int caPort = new TestCa(vertx, "tok").start().toCompletionStage().toCompletableFuture().get();
            int serverPort = new EchoServer(vertx).start(SERVER_IP).toCompletionStage().toCompletableFuture().get();
            Path token = dir.resolve("token");
            Files.writeString(token, "tok");
            Path mesh = dir.resolve("mesh.yaml");
            // one client workload ("client") with two pods running as two service accounts, and the server
            Files.writeString(mesh, "workloads:\n"
                    + pod("client-a", "client", "sa-a", CLIENT_A_IP)
                    + pod("client-b", "client", "sa-b", CLIENT_B_IP)
                    + pod("server-1", "server", "server", SERVER_IP));
            node = ZtunnelHarness.start(dir, "node-r", ZtunnelHarness.localNode("node-r", NODE_IP, mesh.toString(),
                    caPort, token, "telemetry: {removeLabels: [source_principal, destination_principal]}"), null);
            ZtunnelHarness ready = node;
            await().atMost(Duration.ofSeconds(30)).until(ready::ready);

            for (String client : new String[] {CLIENT_A_IP, CLIENT_B_IP}) {
                try (Socket s = Socks5Client.connect(node.socks(), client, SERVER_IP, serverPort)) {
                    s.getOutputStream().write(new byte[100]);
                    assertThat(s.getInputStream().readNBytes(100)).hasSize(100);
                }
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> ready.metricSum("istio_tcp_connections_closed_total",
                    "destination_workload=\"server\"") >= 4);

            for (String reporter : new String[] {"source", "destination"}) {
                String of = "reporter=\"" + reporter + "\"";
                // the exposition's label order: alphabetical
                assertThat(node.metric("istio_tcp_connections_opened_total", "connection_security_policy",
                        "mutual_tls", "destination_app", "server", "destination_canonical_revision", "v1",
                        "destination_canonical_service", "server", "destination_cluster", "unknown",
                        "destination_service", "unknown", "destination_service_name", "unknown",
                        "destination_service_namespace", "unknown", "destination_version", "v1",
                        "destination_workload", "server", "destination_workload_namespace", "default",
                        "reporter", reporter, "request_protocol", "tcp", "response_flags", "-",
                        "source_app", "client", "source_canonical_revision", "v1", "source_canonical_service",
                        "client", "source_cluster", "unknown", "source_version", "v1", "source_workload", "client",
                        "source_workload_namespace", "default"))
                        .as("both pods' connections in one series, reporter " + reporter).isEqualTo(2);
                assertThat(node.metricSum("istio_tcp_received_bytes_total", of, "destination_workload=\"server\""))
                        .isEqualTo(200);
            }
            assertThat(node.metricSum("istio_tcp_connections_opened_total", "principal=")).isZero();
        } finally {
            if (node != null) {
                node.close();
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private static String pod(String uid, String workload, String serviceAccount, String ip) {
        return "  - {uid: " + uid + ", name: " + uid + ", workloadName: " + workload + ", namespace: default, "
                + "serviceAccount: " + serviceAccount + ", addresses: [" + ip + "], node: node-r, "
                + "tunnelProtocol: HBONE, canonicalName: " + workload + ", canonicalRevision: v1}\n";
    }
}
