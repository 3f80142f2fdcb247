package io.jmesh.ztunnel.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.testing.net.BlackholeRelay;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * ca sends ztunnel's connection away when it ages out ({@code grpc.maxConnectionAge}, istiod's 30 min): the trust
 * bundle watch it carried ends, and ztunnel watches again on a new connection as a reconnect (counted
 * {@code reconnect}, logged at INFO, initial backoff), not as an error, staying ready with the bundle it holds.
 */
@Timeout(90)
class CaMaxConnectionAgeTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().place("node-a", SLEEP)
            .config("grpc.maxConnectionAge", "1500ms").config("grpc.maxConnectionAgeGrace", "300ms").build();

    @TempDir
    Path dir;

    @Test
    void aWatchEndedByTheCasGoAwayIsAReconnectOnANewConnection() throws Exception {
        TrustBundleState bundles = ca.bootstrap().trustBundle();
        int before = bundles.subscribers();
        try (BlackholeRelay relay = BlackholeRelay.to("127.0.0.1", ca.port());
                ZtunnelHarness node = WatchingNode.start(dir, ca, "127.0.157.21", relay.port(), relay.port(),
                        "")) {
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> node.ready() && node.ztunnel.trustWatcher().appliedVersion() > 0);
            ListAppender<ILoggingEvent> lines = new ListAppender<>();
            lines.start();
            Logger logger = (Logger) LoggerFactory.getLogger(TrustBundleWatcher.class);
            logger.addAppender(lines);
            try {
                int connections = relay.accepted();
                AtomicBoolean alwaysReady = new AtomicBoolean(true);
                await("two connections aged out and watched again on new ones").atMost(Duration.ofSeconds(30))
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> {
                            alwaysReady.compareAndSet(true, node.ready());
                            return node.metric("ztunnel_trust_bundle_stream_ends_total", "reason", "reconnect") >= 2
                                    && bundles.subscribers() == before + 1;
                        });
                assertThat(relay.accepted()).as("connections through the relay").isGreaterThanOrEqualTo(connections + 2);
                assertThat(node.metric("ztunnel_trust_bundle_stream_ends_total", "reason", "error"))
                        .as("watches ended in error").isZero();
                assertThat(lines.list).filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
                        .extracting(ILoggingEvent::getFormattedMessage).isEmpty();
                assertThat(alwaysReady).as("ready throughout").isTrue();
            } finally {
                logger.detachAppender(lines);
            }
        }
    }
}
