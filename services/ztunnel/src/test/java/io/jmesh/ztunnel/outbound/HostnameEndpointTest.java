package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.testing.fuzz.LeakWatch;
import io.jmesh.ztunnel.testing.EchoServer;
import io.jmesh.ztunnel.testing.FakeDnsServer;
import io.jmesh.ztunnel.testing.Socks5Client;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Istio's on-demand DNS through a real ztunnel: services whose only endpoint is a workload known by hostname (a
 * ServiceEntry with {@code resolution: DNS}), ztunnel's name server a fake one on loopback that knows where the
 * "database" (an echo server) listens. The client reaches the service VIP through SOCKS5 as any other.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostnameEndpointTest {

    static final String CLIENT_IP = "127.0.130.11";
    static final String DB_IP = "127.0.130.20";
    static final String DNS_IP = "127.0.130.53";

    @TempDir
    static Path dir;
    static Vertx vertx;
    static TestCa ca;
    static EchoServer db;
    static FakeDnsServer dns;
    static ZtunnelHarness node;

    @BeforeAll
    static void start() throws Exception {
        LeakWatch.reset();
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "node-token");
        int caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        db = new EchoServer(vertx);
        int dbPort = db.start(DB_IP).toCompletionStage().toCompletableFuture().get();
        // the v6 address of dual.example.test has no listener: a connection sent there would be refused
        dns = new FakeDnsServer(DNS_IP).answer("db.example.test", DB_IP)
                .answer("dual.example.test", "::1", DB_IP, "::2").ignore("silent.example.test");
        Path token = dir.resolve("token");
        Files.writeString(token, "node-token\n");
        Path config = dir.resolve("mesh.yaml");
        Files.writeString(config, """
                workloads:
                  - {uid: node-a/default/sleep-1, name: sleep-1, namespace: default, serviceAccount: sleep,
                     addresses: [%1$s], node: node-a, tunnelProtocol: HBONE, canonicalName: sleep}
                  - {uid: se/default/db, name: db, namespace: default, hostname: db.example.test,
                     services: {"default/db.example.test": {ports: [{servicePort: 5432, targetPort: %2$d}]}}}
                  - {uid: se/default/dual, name: dual, namespace: default, hostname: dual.example.test,
                     services: {"default/dual.example.test": {ports: [{servicePort: 5432, targetPort: %2$d}]}}}
                  - {uid: se/default/nx, name: nx, namespace: default, hostname: nx.example.test,
                     services: {"default/nx.example.test": {ports: [{servicePort: 5432, targetPort: %2$d}]}}}
                  - {uid: se/default/silent, name: silent, namespace: default, hostname: silent.example.test,
                     services: {"default/silent.example.test": {ports: [{servicePort: 5432, targetPort: %2$d}]}}}
                services:
                  - {name: db.example.test, namespace: default, hostname: db.example.test,
                     addresses: [{address: 240.240.0.1}], ports: [{servicePort: 5432, targetPort: %2$d}]}
                  - {name: dual.example.test, namespace: default, hostname: dual.example.test,
                     addresses: [{address: 240.240.0.2}], ports: [{servicePort: 5432, targetPort: %2$d}]}
                  - {name: nx.example.test, namespace: default, hostname: nx.example.test,
                     addresses: [{address: 240.240.0.3}], ports: [{servicePort: 5432, targetPort: %2$d}]}
                  - {name: silent.example.test, namespace: default, hostname: silent.example.test,
                     addresses: [{address: 240.240.0.4}], ports: [{servicePort: 5432, targetPort: %2$d}]}
                """.formatted(CLIENT_IP, dbPort));
        String upstream = DNS_IP + ":" + dns.address().getPort();
        node = ZtunnelHarness.start(dir, "node-a", ZtunnelHarness.localNode("node-a", "127.0.130.1",
                "{staticFile: \"" + config + "\"}", -1, caPort, token,
                "dns: {upstreams: [\"" + upstream + "\"], upstreamTimeout: 1s}"), null);
        await().atMost(Duration.ofSeconds(20)).until(() -> node.ready());
    }

    @AfterAll
    static void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        if (dns != null) {
            dns.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(LeakWatch.leaks()).as("ByteBuf leaks").isEmpty();
    }

    @Test
    void theEndpointsHostnameIsResolvedAndItsAnswerCachedAndCounted() throws Exception {
        for (int i = 0; i < 3; i++) {
            assertThat(echo("240.240.0.1", "hello " + i)).isEqualTo("hello " + i);
        }
        // by the service's hostname too (SOCKS5 with a name): the same endpoint
        assertThat(echo("db.example.test", "by name")).isEqualTo("by name");
        assertThat(db.connections.get()).isGreaterThanOrEqualTo(4);
        assertThat(dns.asked("A", "db.example.test")).as("asked once, then answered from the cache").isEqualTo(1);
        assertThat(dns.asked("AAAA", "db.example.test")).isEqualTo(1);
        assertThat(node.metricSum("istio_on_demand_dns_total", "hostname=\"db.example.test\"",
                "source_workload=\"sleep-1\"", "source_workload_namespace=\"default\"",
                "source_canonical_service=\"sleep\"", "source_principal=\"spiffe://cluster.local/ns/default/sa/sleep\""))
                .isEqualTo(4.0);
    }

    @Test
    void addressesOfTheOriginalDestinationsFamilyAreChosen() throws Exception {
        // the answer holds two IPv6 addresses and one IPv4: the VIP is IPv4, so every connection goes to the IPv4 one
        for (int i = 0; i < 12; i++) {
            assertThat(echo("240.240.0.2", "v4 " + i)).isEqualTo("v4 " + i);
        }
        assertThat(dns.asked("AAAA", "dual.example.test")).isEqualTo(1);
    }

    @Test
    void aNameThatDoesNotExistRefusesTheClientWithTheReasonCountedAndLogged() throws Exception {
        List<String> failures = refused("240.240.0.3");
        assertThat(node.metricSum("istio_on_demand_dns_total", "hostname=\"nx.example.test\"")).isEqualTo(1.0);
        assertThat(failures).singleElement().satisfies(line -> assertThat(line)
                .contains("reason=no_resolved_addresses", "dst.addr=240.240.0.3:5432",
                        "error=endpoint se/default/nx of nx.example.test: hostname 'nx.example.test' did not resolve: "));
    }

    @Test
    void aNameServerThatDoesNotAnswerRefusesTheClientAfterItsTimeouts() throws Exception {
        long start = System.nanoTime();
        List<String> failures = refused("240.240.0.4");
        // dns.upstreamAttempts (2) tries of dns.upstreamTimeout (1 s) each, A and AAAA side by side
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofSeconds(2),
                Duration.ofSeconds(10));
        assertThat(dns.asked("A", "silent.example.test")).isEqualTo(2);
        assertThat(dns.asked("AAAA", "silent.example.test")).isEqualTo(2);
        assertThat(failures).singleElement().satisfies(line -> assertThat(line).contains(
                "error=endpoint se/default/silent of silent.example.test: hostname 'silent.example.test' did not"
                        + " resolve: "));
    }

    /**
     * Connects through ztunnel to {@code vip}:5432 expecting a refusal counted as {@code no_resolved_addresses}; the
     * "connection failed" lines logged meanwhile, as {@code key=value} lists.
     */
    static List<String> refused(String vip) {
        double before = node.metric("ztunnel_connection_rejections_total", "direction", "outbound", "reason",
                "no_resolved_addresses");
        Logger access = (Logger) LoggerFactory.getLogger("access");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        access.addAppender(lines);
        try {
            assertThatThrownBy(() -> Socks5Client.connect(node.socks(), CLIENT_IP, vip, 5432).close())
                    .isInstanceOf(Socks5Client.Refused.class);
        } finally {
            access.detachAppender(lines);
        }
        assertThat(node.metric("ztunnel_connection_rejections_total", "direction", "outbound", "reason",
                "no_resolved_addresses")).isEqualTo(before + 1);
        return lines.list.stream().filter(e -> e.getFormattedMessage().equals("connection failed"))
                .map(e -> e.getKeyValuePairs().stream().map(kv -> kv.key + "=" + kv.value).toList().toString())
                .toList();
    }

    /** Sends {@code text} through ztunnel to {@code host}:5432 and reads the echo. */
    static String echo(String host, String text) throws Exception {
        try (Socket s = Socks5Client.connect(node.socks(), CLIENT_IP, host, 5432)) {
            byte[] out = text.getBytes(StandardCharsets.UTF_8);
            s.getOutputStream().write(out);
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
