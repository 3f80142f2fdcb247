package io.jmesh.ca.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClientRequest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ca sends a connection past {@code grpc.maxConnectionAge} away as istiod does (GOAWAY, closed a grace later), so
 * ztunnels' long-lived CA connections spread over the replicas again after a rolling restart.
 */
@Timeout(60)
class MaxConnectionAgeTest {

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().config("grpc.maxConnectionAge", "1s")
            .config("grpc.maxConnectionAgeGrace", "500ms").build();

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
    void anAgedConnectionIsSentAwayAndItsWatchEnded() throws Exception {
        TrustBundleState state = ca.bootstrap().trustBundle();
        int before = state.subscribers();
        try (CaClient client = new CaClient(vertx, SocketAddress.inetSocketAddress(ca.port(), "127.0.0.1"),
                ca.rootsPem())) {
            List<TrustBundle> got = new CopyOnWriteArrayList<>();
            AtomicBoolean goneAway = new AtomicBoolean();
            GrpcClientRequest<WatchTrustBundleRequest, TrustBundle> call = client.watchTrustBundleCall(0, got::add)
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            io.jmesh.core.grpc.GoAways.onReceived(call.connection(), () -> goneAway.set(true));
            await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 1);
            assertThat(state.subscribers()).isEqualTo(before + 1);

            await("the aged connection sent GOAWAY").atMost(Duration.ofSeconds(20)).untilTrue(goneAway);
            await("the aged connection's watch ended").atMost(Duration.ofSeconds(20))
                    .until(() -> state.subscribers() == before);
        }
    }
}
