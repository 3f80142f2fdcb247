package io.jmesh.ztunnel.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.tls.Pem;
import io.jmesh.ztunnel.testing.RawHboneClient;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.netty.channel.Channel;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The roots ztunnel starts with ({@code identity.trustBundleFile}) count as the roots in force: a first bundle from
 * the ca that leaves one of them out retires it, and live connections whose peer chains only to it close, as they do
 * when a later bundle drops a root.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BootstrapRootRetiredTest {

    static final String ECHO_IP = "127.0.215.12";

    @TempDir
    Path dir;
    Vertx vertx;
    TestCa ca;
    TestCa retired;
    int caPort;
    ZtunnelHarness node;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "tok");
        caPort = ca.start().toCompletionStage().toCompletableFuture().get();
        retired = new TestCa(vertx, "unused");
        Path token = dir.resolve("token");
        Files.writeString(token, "tok");
        Path roots = dir.resolve("roots.pem");
        Files.writeString(roots, ca.rootPem() + retired.rootPem());
        Path mesh = dir.resolve("mesh.yaml");
        Files.writeString(mesh, """
                workloads:
                  - {uid: echo-1, name: echo, namespace: default, serviceAccount: echo, addresses: [%s],
                     node: node-r, tunnelProtocol: HBONE}
                """.formatted(ECHO_IP));
        String identity = "tokenFile: \"" + token + "\"}";
        String yaml = ZtunnelHarness.localNode("node-r", "127.0.215.1", mesh.toString(), caPort, token, null);
        assertThat(yaml).contains(identity);
        node = ZtunnelHarness.start(dir, "node-r",
                yaml.replace(identity, "tokenFile: \"" + token + "\", trustBundleFile: \"" + roots + "\"}"), null);
        await().atMost(Duration.ofSeconds(20)).until(node::ready);
    }

    @AfterEach
    void stop() throws Exception {
        node.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aFirstBundleWithoutABootstrapRootClosesConnectionsUnderIt() throws Exception {
        assertThat(node.ztunnel.trust().roots()).as("bootstrap roots").hasSize(2);
        var leaf = retired.leaf(Duration.ofHours(1), "spiffe://cluster.local/ns/default/sa/old");
        try (RawHboneClient client = new RawHboneClient(leaf.keys().getPrivate(), leaf.cert())) {
            Channel connection = client.connection(new InetSocketAddress(ECHO_IP, 15008));
            // an answer on a stream: the server has verified the client's chain (TLS 1.3 does that after the
            // client's handshake ended), under the bootstrap root that the ca's bundle will leave out
            RawHboneClient.Seen seen = new RawHboneClient.Seen();
            RawHboneClient.headers(RawHboneClient.stream(connection, seen), RawHboneClient.connect(ECHO_IP + ":9"),
                    true);
            assertThat(seen.status.get(10, TimeUnit.SECONDS)).as("answered").isPositive();
            assertThat(connection.isActive()).as("accepted under the bootstrap root").isTrue();
            // what the ca's first bundle says: its own root only
            node.ztunnel.trust().install(new TrustSnapshot(1, List.of(ca.rootCert()), Set.of(), null, "ca-watch"));
            assertThat(connection.closeFuture().await(10, TimeUnit.SECONDS)).as("connection closed").isTrue();
            assertThat(node.metric("ztunnel_revoked_connections_closed_total", "direction", "inbound", "reason",
                    "root_retired")).isEqualTo(1);
        }
    }

    /** The file is read with the rest of the start's files, off the event loop; one that cannot be read fails it. */
    @Test
    void anUnreadableBootstrapBundleFailsTheStartNamingTheFile() throws Exception {
        Path token = dir.resolve("token");
        Path missing = dir.resolve("no-such-roots.pem");
        String identity = "tokenFile: \"" + token + "\"}";
        String yaml = ZtunnelHarness.localNode("node-s", "127.0.215.2", dir.resolve("mesh.yaml").toString(),
                caPort, token, null).replace(identity, identity.replace("}", ", trustBundleFile: \"" + missing
                        + "\"}"));
        assertThatThrownBy(() -> ZtunnelHarness.start(dir, "node-s", yaml, null))
                .hasStackTraceContaining("cannot read " + missing);
    }
}
