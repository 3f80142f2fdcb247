package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Inbound HBONE while ztunnel drains. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DrainTest {

    static final String APP_IP = "127.0.64.11";

    @TempDir
    Path dir;
    Vertx vertx;
    ZtunnelHarness node;

    @AfterEach
    void stop() throws Exception {
        if (node != null) {
            node.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /**
     * A connection accepted before the drain whose certificate arrives after the GOAWAYs went out would otherwise be
     * served until the drain deadline: it is closed as soon as its certificate is there.
     */
    @Test
    void aConnectionStillWaitingForItsCertificateWhenTheDrainStartsIsClosed() throws Exception {
        vertx = Vertx.vertx();
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        setup.ca().hold = true; // the workload's certificate is asked for and not answered yet
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: app, name: app, namespace: default, serviceAccount: app, addresses: [%s], node: node-d,
                     tunnelProtocol: HBONE}
                """.formatted(APP_IP));
        node = ZtunnelHarness.start(dir, "node-d",
                setup.localNode("node-d", "127.0.64.1", mesh, null).replace("drainDeadline: 5s", "drainDeadline: 40s"),
                null);
        await().atMost(Duration.ofSeconds(20)).until(() -> !setup.ca().held.isEmpty());
        try (Socket peer = new Socket()) {
            peer.connect(new InetSocketAddress(APP_IP, 15008), 5_000);
            peer.setSoTimeout(10_000);
            Future<Void> drained = node.ztunnel.drain();
            Runnable answer;
            while ((answer = setup.ca().held.poll()) != null) {
                answer.run();
            }
            setup.ca().hold = false;
            assertThat(peer.getInputStream().read()).as("closed, long before the 40 s drain deadline").isEqualTo(-1);
        }
    }
}
