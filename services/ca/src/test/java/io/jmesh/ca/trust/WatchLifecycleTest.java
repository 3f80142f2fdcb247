package io.jmesh.ca.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Watches end with their caller: a cancelled stream or a closed connection leaves nothing subscribed. */
@Timeout(60)
class WatchLifecycleTest {

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().build();

    Vertx vertx;

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aCancelledWatchOnAnOpenConnectionIsUnsubscribed() throws Exception {
        TrustBundleState state = ca.bootstrap().trustBundle();
        int before = state.subscribers();
        CaClient client = ca.client(vertx);
        List<TrustBundle> got = new CopyOnWriteArrayList<>();
        var watch = client.watchTrustBundleCall(0, got::add).toCompletionStage().toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 1);
        assertThat(state.subscribers()).isEqualTo(before + 1);

        watch.cancel();
        // the connection stays open (another watch on it still works): only the stream ended
        List<TrustBundle> other = new CopyOnWriteArrayList<>();
        client.watchTrustBundle(0, other::add).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> other.size() == 1);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            assertThat(state.subscribers()).isEqualTo(before + 1);
        });
        client.close();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            assertThat(state.subscribers()).isEqualTo(before);
        });
    }
}
