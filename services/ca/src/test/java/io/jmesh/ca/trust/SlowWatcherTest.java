package io.jmesh.ca.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A watcher that stops reading while the bundle changes many times is not queued every version: once its HTTP/2
 * stream is full the CA keeps only the newest bundle for it, so after it reads again it receives a few bundles,
 * in increasing order, ending with the current one.
 */
@Timeout(60)
class SlowWatcherTest {

    static final int CHANGES = 256;

    /**
     * What a paused watcher can still take in before its reads stop returning HTTP/2 window: Vert.x's gRPC reader
     * buffers up to 16 messages before it pauses the HTTP stream, that stream buffers up to 16 DATA chunks (about 5
     * bundles of this size), the 64 KiB stream window holds one more, and some were already on their way (20 seen here,
     * 32 on a slower CI machine). A CA that queued every version would deliver all {@link #CHANGES}.
     */
    static final int CLIENT_SIDE_BUFFERING = 64;

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
    void aWatcherThatDoesNotReadSkipsToTheNewestBundleInsteadOfQueueingEveryVersion() throws Exception {
        List<TrustBundle> got = new CopyOnWriteArrayList<>();
        CaClient client = ca.client(vertx);
        var response = client.watchTrustBundle(0, got::add).toCompletionStage().toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 1);
        response.pause(); // no more reads: the client returns no HTTP/2 window to the CA

        // many changes of a large bundle (48 KiB of CRL each, far beyond the 64 KiB stream window in total)
        TrustBundleState state = ca.bootstrap().trustBundle();
        Random random = new Random(7);
        byte[] crl = new byte[48 * 1024];
        for (int i = 0; i < CHANGES; i++) {
            random.nextBytes(crl);
            state.crl(crl, Instant.now().plus(Duration.ofHours(1)), java.util.List.of());
        }
        long newest = state.current().getVersion();

        response.resume();
        await().atMost(Duration.ofSeconds(20)).until(() -> got.get(got.size() - 1).getVersion() == newest);
        assertThat(got.size() - 1).isLessThanOrEqualTo(CLIENT_SIDE_BUFFERING);
        for (int i = 1; i < got.size(); i++) {
            assertThat(got.get(i).getVersion()).isGreaterThan(got.get(i - 1).getVersion());
        }
        client.close();
    }
}
