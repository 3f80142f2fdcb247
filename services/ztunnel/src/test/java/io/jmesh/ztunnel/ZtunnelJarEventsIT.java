package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.ServiceProcess;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped {@code ztunnel.jar}, which carries no Kafka client, publishes a connection's events to a real broker
 * through the wire producer: run as a process, as the image runs it. It carries no Bouncy Castle either, and gets its
 * workloads' certificates with requests it writes itself (read by the test CA with Bouncy Castle).
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ZtunnelJarEventsIT {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    private static final String NODE_IP = "127.0.93.1";
    private static final String CLIENT_IP = "127.0.93.11";
    private static final String ECHO_IP = "127.0.93.12";

    @TempDir
    Path dir;

    private Vertx vertx;

    @AfterEach
    void stop() throws Exception {
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theJarPublishesEachConnectionsEventsWithoutKafkasClient() throws Exception {
        Path jar = Path.of(System.getProperty("jmesh.service.jar"));
        try (JarFile j = new JarFile(jar.toFile())) {
            assertThat(j.getEntry("org/apache/kafka/clients/producer/KafkaProducer.class"))
                    .as("Kafka's client is not packed").isNull();
            // nor Bouncy Castle: the workload CSRs this run's readiness waits for are ztunnel's own DER (WorkloadCsr)
            assertThat(j.stream().filter(e -> e.getName().startsWith("org/bouncycastle/")))
                    .as("Bouncy Castle is not packed").isEmpty();
        }
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        int echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path mesh = setup.clientAndEcho("node-j", CLIENT_IP, ECHO_IP);
        String config = setup.localNode("node-j", NODE_IP, mesh,
                        "kafka: {bootstrapServers: \"" + kafka.bootstrapServers() + "\"}\n"
                                + "telemetry: {progressInterval: 1h}")
                .replace("admin: {host: 127.0.0.1, port: 0}", "admin: {host: " + NODE_IP + ", port: 15020}")
                .replace("socks5: 0", "socks5: 15080").replace("readiness: 0", "readiness: 15021");
        Path file = Files.writeString(dir.resolve("ztunnel.yaml"), config);

        try (ServiceProcess p = ServiceProcess.builder(jar).args("--config", file.toString()).workDir(dir).start()) {
            HttpClient http = HttpClient.newHttpClient();
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> http.send(
                    HttpRequest.newBuilder(URI.create("http://" + NODE_IP + ":15021/healthz/ready")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 200);

            try (Socket s = Socks5Client.connect(new InetSocketAddress(NODE_IP, 15080), CLIENT_IP, ECHO_IP,
                    echoPort)) {
                s.getOutputStream().write("12345".getBytes(StandardCharsets.US_ASCII));
                s.shutdownOutput();
                assertThat(s.getInputStream().readAllBytes()).hasSize(5);
            }
            // OPENED and CLOSED, as the source and as the destination
            assertThat(consume(4)).hasSize(4).allSatisfy(key -> assertThat(key).isEqualTo("client"));
        }
    }

    /** The keys (source workload uid) of the first {@code n} events on the topic. */
    private static List<String> consume(int n) {
        return kafka.readRecords(ConnectionTelemetry.TOPIC, n, Duration.ofSeconds(30)).stream()
                .map(r -> new String(r.key(), StandardCharsets.UTF_8)).toList();
    }
}
