package io.jmesh.ztunnel.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.identity.BearerTokenFile;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.ztunnel.testing.TestCa;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node's token file cannot be read (not mounted yet, wrong path): the CSR fails with that reason, sends nothing to
 * the CA, and does not hold a CSR slot until {@code identity.csrTimeout} to end as "ca did not answer".
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcCaClientTokenTest {

    static final SpiffeId SLEEP = SpiffeId.of("cluster.local", "default", "sleep");

    @TempDir
    Path dir;
    Vertx vertx;
    TestCa ca;
    int port;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        ca = new TestCa(vertx, "t");
        port = ca.start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void anUnreadableTokenFileFailsTheCallWithThatReasonAndSendsNothing() throws Exception {
        Path missing = dir.resolve("istio-token");
        GrpcCaClient client = new GrpcCaClient(vertx, GrpcClient.client(vertx),
                SocketAddress.inetSocketAddress(port, "127.0.0.1"), BearerTokenFile.of(missing.toString()),
                "Kubernetes", Duration.ofSeconds(5));
        Future<List<String>> call = client.createCertificate(IdentityManager.Csr.create(SLEEP).pem(), SLEEP,
                Duration.ofHours(24));
        await().until(call::isComplete);
        assertThat(call.cause()).hasMessageContaining("cannot read the token file").hasMessageContaining(
                missing.toString());
        assertThat(ca.requests.get()).isZero();
    }
}
