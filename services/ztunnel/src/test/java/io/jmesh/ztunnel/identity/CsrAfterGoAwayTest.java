package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcClient;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.jmesh.testing.net.BlackholeRelay;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * After ca sends ztunnel's connection away ({@code grpc.maxConnectionAge}), the next CSR goes over a new connection
 * (possibly to another replica) while the old one still carries its open watch through the grace, and succeeds.
 */
@Timeout(60)
class CsrAfterGoAwayTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().place("node-a", SLEEP)
            .config("grpc.maxConnectionAge", "1s").config("grpc.maxConnectionAgeGrace", "30s").build();

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
    void theNextCsrAfterAGoAwayGoesOverANewConnection() throws Exception {
        try (BlackholeRelay relay = BlackholeRelay.to("127.0.0.1", ca.port())) {
            SocketAddress address = SocketAddress.inetSocketAddress(relay.port(), "127.0.0.1");
            GrpcClient grpc = GrpcClient.client(vertx, new HttpClientOptions().setSsl(true).setUseAlpn(true)
                    .setProtocolVersion(HttpVersion.HTTP_2).setVerifyHost(true)
                    .setTrustOptions(new PemTrustOptions().addCertValue(Buffer.buffer(ca.rootsPem()))));
            String token = ca.nodeToken("node-a");
            GrpcCaClient csrs = new GrpcCaClient(vertx, grpc, address, () -> token, "Kubernetes",
                    Duration.ofSeconds(10));
            // a watch holds the connection open through the grace, as ztunnel's trust bundle watch does
            AtomicBoolean goneAway = new AtomicBoolean();
            GrpcClientRequest<WatchTrustBundleRequest, TrustBundle> watch = grpc
                    .request(address, TrustBundleServiceGrpcClient.Watch).toCompletionStage().toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            watch.headers().set("authorization", "Bearer " + token);
            io.jmesh.core.grpc.GoAways.onReceived(watch.connection(), () -> goneAway.set(true));
            watch.end(WatchTrustBundleRequest.getDefaultInstance());

            String csr = IdentityManager.Csr.create(SLEEP).pem();

            await("ca sent the connection away").atMost(Duration.ofSeconds(20)).untilTrue(goneAway);
            int connections = relay.accepted();
            List<String> chain = csrs.createCertificate(csr, SLEEP, Duration.ofHours(1)).toCompletionStage()
                    .toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(chain).isNotEmpty();
            assertThat(relay.accepted()).as("connections through the relay").isEqualTo(connections + 1);
            watch.cancel();
        }
    }
}
