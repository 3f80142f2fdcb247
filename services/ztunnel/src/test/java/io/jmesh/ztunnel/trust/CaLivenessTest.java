package io.jmesh.ztunnel.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.testing.net.BlackholeRelay;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel's connections to ca are PINGed as Istio's ztunnel's to istiod: when ca stops answering on the trust
 * bundle watch's connection without closing it (a relay blackholes it), ztunnel drops the connection and watches
 * again on a new one, staying ready with the bundle it holds.
 */
@Timeout(90)
class CaLivenessTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().place("node-a", SLEEP).build();

    @TempDir
    Path dir;

    @Test
    void aBlackholedTrustBundleWatchIsDroppedAndWatchedAgainOnANewConnection() throws Exception {
        TrustBundleState bundles = ca.bootstrap().trustBundle();
        int before = bundles.subscribers();
        try (BlackholeRelay relay = BlackholeRelay.to("127.0.0.1", ca.port());
                ZtunnelHarness node = WatchingNode.start(dir, ca, "127.0.157.11", ca.port(), relay.port(),
                        "  keepaliveInterval: 300ms\n  keepaliveTimeout: 1s")) {
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> node.ready() && node.ztunnel.trustWatcher().appliedVersion() > 0);
            assertThat(relay.accepted()).isEqualTo(1);
            assertThat(bundles.subscribers()).isEqualTo(before + 1);

            relay.blackhole();
            // ca still holds the silent watch (its own PINGs come every 30 s here): the new one is a second
            await("the trust bundle watched again on a new connection").atMost(Duration.ofSeconds(20))
                    .untilAsserted(() -> assertThat(java.util.List.of(relay.accepted(), bundles.subscribers() - before))
                            .as("connections through the relay, watches ca holds").containsExactly(2, 2));
            assertThat(node.metric("ztunnel_grpc_keepalive_timeouts_total", "peer", "ca")).isEqualTo(1);
            assertThat(node.ready()).isTrue();
        }
    }
}
