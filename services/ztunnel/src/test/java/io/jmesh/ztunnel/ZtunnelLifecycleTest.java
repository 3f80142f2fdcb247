package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.proto.telemetry.v1.SecurityPolicy;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The operator's view of one ztunnel: readiness on 15021, Istio metrics on 15020, the local admin (config dump
 * with certificates, logging, quitquitquit), connection events in Kafka, and a drain that waits for open tunnels.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ZtunnelLifecycleTest {

    @RegisterExtension
    static KafkaExtension kafka = new KafkaExtension();

    static final String CLIENT_IP = "127.0.90.11";
    static final String ECHO_IP = "127.0.90.12";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static ZtunnelHarness node;
    static int echoPort;
    static final CountDownLatch quit = new CountDownLatch(1);
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
        vertx = Vertx.vertx();
        TestCa ca = new TestCa(vertx, "tok");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        echoPort = new EchoServer(vertx).start(ECHO_IP).toCompletionStage().toCompletableFuture().get();
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, """
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client, addresses: [%s],
                     node: node-l, tunnelProtocol: HBONE, canonicalName: client, canonicalRevision: v1}
                  - {uid: echo, name: echo, namespace: default, serviceAccount: echo, addresses: [%s], node: node-l,
                     tunnelProtocol: HBONE, canonicalName: echo, canonicalRevision: v2}
                authorizations:
                  - {name: allow-client, namespace: default, action: ALLOW, rules: [{}]}   # an empty rule matches all
                """.formatted(CLIENT_IP, ECHO_IP));
        node = ZtunnelHarness.start(dir, "node-l", ZtunnelHarness.localNode("node-l", "127.0.90.1", mesh.toString(),
                caPort, token, "kafka: {bootstrapServers: \"" + kafka.bootstrapServers() + "\"}"),
                new ZtunnelBootstrap.Collaborators(null, null, null, null, quit::countDown));
    }

    @AfterAll
    static void stop() throws Exception {
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static HttpResponse<String> get(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    String readinessUrl() {
        return "http://127.0.90.1:" + node.ztunnel.readinessPort() + "/healthz/ready";
    }

    @Test
    void readyOnlyWithCertificatesAndConfigThenMetricsEventsAndDump() throws Exception {
        await().atMost(Duration.ofSeconds(20)).until(() -> get(readinessUrl()).statusCode() == 200);
        assertThat(node.running.context().readiness().pending()).isEmpty();
        // TestCa, like istiod, has no TrustBundleService: that settles the bundle wait instead of blocking readiness
        assertThat(node.metric("ztunnel_trust_bundle_stream_ends_total", "reason", "unimplemented")).isEqualTo(1);

        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> accessLines = new ListAppender<>();
        accessLines.start();
        access.addAppender(accessLines);
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, ECHO_IP, echoPort)) {
            s.getOutputStream().write("12345".getBytes());
            s.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).hasSize(5);
        }

        // one access-log line per closed connection and side: addresses, workloads, namespaces, identities, bytes
        // each way, duration, and no error for a clean close
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> accessLines.list.size() >= 2);
        } finally {
            access.detachAppender(accessLines);
        }
        assertThat(accessLines.list).extracting(ILoggingEvent::getFormattedMessage)
                .containsExactly("connection complete", "connection complete");
        for (ILoggingEvent line : accessLines.list) {
            Map<String, Object> kv = new HashMap<>();
            line.getKeyValuePairs().forEach(p -> kv.put(p.key, p.value));
            assertThat(kv).containsEntry("src.workload", "client").containsEntry("src.namespace", "default")
                    .containsEntry("src.identity", "spiffe://cluster.local/ns/default/sa/client")
                    .containsEntry("dst.workload", "echo").containsEntry("dst.namespace", "default")
                    .containsEntry("dst.identity", "spiffe://cluster.local/ns/default/sa/echo")
                    .containsEntry("bytes_sent", 5L).containsEntry("bytes_recv", 5L)
                    .doesNotContainKey("error");
            assertThat((String) kv.get("src.addr")).startsWith(CLIENT_IP + ":");
            // as Istio's ztunnel logs a tunnel: dst.addr is the HBONE hop, dst.hbone_addr the application inside it
            assertThat(kv).containsEntry("dst.addr", ECHO_IP + ":15008")
                    .containsEntry("dst.hbone_addr", ECHO_IP + ":" + echoPort);
            assertThat((String) kv.get("duration")).matches("\\d+ms");
        }
        assertThat(accessLines.list).extracting(l -> l.getKeyValuePairs().stream()
                .filter(p -> p.key.equals("direction")).findFirst().orElseThrow().value)
                .containsExactlyInAnyOrder("outbound", "inbound");

        // Istio metric names and labels on 15020
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(
                get("http://127.0.0.1:" + node.running.admin().port() + "/metrics").body())
                .contains("istio_tcp_connections_closed_total{")
                .contains("istio_tcp_sent_bytes_total{")
                .contains("reporter=\"source\"").contains("reporter=\"destination\"")
                .contains("source_principal=\"spiffe://cluster.local/ns/default/sa/client\"")
                .contains("destination_workload=\"echo\"").contains("destination_version=\"v2\"")
                .contains("connection_security_policy=\"mutual_tls\"")
                .contains("response_flags=\"-\""));

        // one OPENED and one CLOSED event per side, in Kafka
        List<ConnectionEvent> events = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(new HashMap<String, Object>(
                kafka.consumerConfig("it", ByteArrayDeserializer.class, ByteArrayDeserializer.class)))) {
            c.subscribe(List.of(ConnectionTelemetry.TOPIC));
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                for (var r : c.poll(Duration.ofMillis(200))) {
                    events.add(ConnectionEvent.parseFrom(r.value()));
                }
                return events.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED).count() >= 2;
            });
        }
        ConnectionEvent closedOutbound = events.stream().filter(e -> e.getKind() == ConnectionEvent.Kind.CLOSED
                && e.getReporter() == Reporter.SOURCE).findFirst().orElseThrow();
        assertThat(closedOutbound.getSchemaVersion()).isEqualTo(1);
        assertThat(closedOutbound.getBytesReceived()).isEqualTo(5);
        assertThat(closedOutbound.getBytesSent()).isEqualTo(5);
        assertThat(closedOutbound.getSource().getPrincipal()).isEqualTo("spiffe://cluster.local/ns/default/sa/client");
        assertThat(closedOutbound.getDestination().getName()).isEqualTo("echo");
        assertThat(closedOutbound.getSecurityPolicy()).isEqualTo(SecurityPolicy.MUTUAL_TLS);

        // the local admin: config dump with certificates and expiry, policies
        JsonObject dump = new JsonObject(get("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/config_dump").body());
        // in the shape of Istio's dump, whose fixed types istioctl ztunnel-config decodes it into
        assertThat(dump.getJsonArray("workloads")).hasSize(2);
        JsonObject workload = dump.getJsonArray("workloads").getJsonObject(0);
        assertThat(workload.getJsonArray("workloadIps").getString(0)).as("addresses as text")
                .matches("\\d+\\.\\d+\\.\\d+\\.\\d+");
        assertThat(workload.getString("protocol")).isIn("HBONE", "TCP");
        assertThat(workload.getString("status")).isEqualTo("Healthy");
        assertThat(workload.getString("workloadType")).isEqualTo("deployment");
        assertThat(dump.getJsonArray("policies")).hasSize(1);
        JsonObject policy = dump.getJsonArray("policies").getJsonObject(0);
        assertThat(policy.getString("action")).isIn("Allow", "Deny");
        assertThat(policy.getJsonArray("rules")).as("rules, each a list of clauses")
                .allSatisfy(rule -> assertThat(rule).isInstanceOf(io.vertx.core.json.JsonArray.class));
        // certificates (istioctl ztunnel-config certificates): the chain, leaf first, and the trust bundle's roots
        JsonObject cert = dump.getJsonArray("certificates").getJsonObject(0);
        assertThat(cert.getString("identity")).startsWith("spiffe://cluster.local/ns/default/sa/");
        assertThat(cert.getString("state")).isEqualTo("Available");
        JsonObject leaf = cert.getJsonArray("certChain").getJsonObject(0);
        java.security.cert.X509Certificate parsed = io.jmesh.core.tls.Pem.certificate(new String(
                java.util.Base64.getDecoder().decode(leaf.getString("pem")), java.nio.charset.StandardCharsets.US_ASCII));
        assertThat(parsed.getSubjectAlternativeNames().toString()).contains(cert.getString("identity"));
        assertThat(leaf.getString("serialNumber")).isEqualTo(parsed.getSerialNumber().toString());
        assertThat(java.time.Instant.parse(leaf.getString("expirationTime")))
                .isEqualTo(parsed.getNotAfter().toInstant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
        assertThat(java.time.Instant.parse(leaf.getString("validFrom"))).isBefore(java.time.Instant.now());
        assertThat(cert.getJsonArray("rootCerts")).as("the trust bundle's root").hasSize(1);
        assertThat(dump.getJsonObject("version").getString("version")).isNotBlank();
        assertThat(dump.containsKey("onDemand")).as("only with on-demand discovery").isFalse();

        // the index lists what the admin serves; an unknown path says where to look
        assertThat(get("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/").body())
                .contains("/config_dump", "/logging", "/quitquitquit");
        HttpResponse<String> unknown = get("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/stats");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("/stats", "/config_dump");

        // logging: change a level, bad levels refused precisely
        assertThat(post("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/logging?access=debug").body())
                .contains("access=debug");
        HttpResponse<String> bad = post("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/logging?level=loud");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("loud");
        // Istio's form, which istioctl ztunnel-config log sends; nothing applies when one item is bad
        assertThat(post("http://127.0.0.1:" + node.ztunnel.localAdmin().port()
                + "/logging?level=access:warn,io.jmesh.ztunnel.pool:debug").body())
                .contains("access=warn", "io.jmesh.ztunnel.pool=debug");
        HttpResponse<String> partlyBad = post("http://127.0.0.1:" + node.ztunnel.localAdmin().port()
                + "/logging?level=access:info,io.jmesh.ztunnel.pool:chatty");
        assertThat(partlyBad.statusCode()).isEqualTo(400);
        assertThat(partlyBad.body()).contains("chatty");
        assertThat(post("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/logging").body())
                .as("unchanged").contains("access=warn");
        post("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/logging?level=io.jmesh.ztunnel.pool:info");
    }

    @Test
    void quitquitquitAsksForAShutdown() throws Exception {
        assertThat(get("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/quitquitquit").statusCode())
                .isEqualTo(405);
        assertThat(post("http://127.0.0.1:" + node.ztunnel.localAdmin().port() + "/quitquitquit").statusCode())
                .isEqualTo(200);
        assertThat(quit.await(5, TimeUnit.SECONDS)).isTrue();
    }
}
