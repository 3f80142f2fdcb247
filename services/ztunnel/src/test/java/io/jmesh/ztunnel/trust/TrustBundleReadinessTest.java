package io.jmesh.ztunnel.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ztunnel that follows ca's trust bundle is not ready until the first bundle (roots and CRL) is in force, even
 * with its certificates and configuration in hand: before it, a revoked peer could be accepted.
 */
@Timeout(60)
class TrustBundleReadinessTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().place("node-a", SLEEP).build();

    @TempDir
    Path dir;

    @Test
    void certificatesWithoutTheFirstBundleAreNotReady() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        Path roots = Files.writeString(dir.resolve("roots.pem"), ca.rootsPem());
        Path config = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - uid: node-a/default/sleep-1
                    name: sleep-1
                    namespace: default
                    serviceAccount: sleep
                    addresses: [127.0.113.11]
                    node: node-a
                    tunnelProtocol: HBONE
                """);
        ZtunnelHarness node = RealCaMesh.node(ca, dir, "node-a", config, roots, "127.0.113.1",
                "127.0.0.1:" + closedPort);
        try {
            var readiness = node.running.context().readiness();
            await().atMost(Duration.ofSeconds(30)).until(() -> readiness.pending().equals(List.of("trust-bundle")));
            // certificates and configuration are in hand; the bundle stream keeps failing, so it stays unready
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3))
                    .until(() -> readiness.pending().equals(List.of("trust-bundle")) && !node.ready());
            assertThat(node.ztunnel.trustWatcher().appliedVersion()).isZero();
        } finally {
            node.close();
        }
    }
}
