package io.jmesh.ca.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.testing.net.BlackholeRelay;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ca's gRPC port PINGs its connections as istiod does: a client that went silent without closing anything (its
 * node gone; here behind a relay that blackholes its connection) is dropped, and its trust bundle watch with it.
 */
@Timeout(60)
class KeepaliveTest {

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().config("grpc.keepaliveInterval", "300ms")
            .config("grpc.keepaliveTimeout", "1s").build();

    Vertx vertx;
    BlackholeRelay relay;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        relay = BlackholeRelay.to("127.0.0.1", ca.port());
    }

    @AfterEach
    void stop() throws Exception {
        relay.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aSilentClientsConnectionIsClosedAndItsWatchEnded() throws Exception {
        TrustBundleState state = ca.bootstrap().trustBundle();
        int before = state.subscribers();
        CaClient client = new CaClient(vertx, SocketAddress.inetSocketAddress(relay.port(), "127.0.0.1"),
                ca.rootsPem());
        List<TrustBundle> got = new CopyOnWriteArrayList<>();
        client.watchTrustBundle(0, got::add).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 1);
        // PINGs answered for several intervals: a live client stays
        Thread.sleep(1500);
        assertThat(state.subscribers()).isEqualTo(before + 1);

        relay.blackhole();
        await("the blackholed client's watch ended").atMost(Duration.ofSeconds(20))
                .until(() -> state.subscribers() == before);
        assertThat(ca.metric("ca_grpc_keepalive_timeouts_total", "peer", "client")).isEqualTo(1);
        client.close();
    }
}
