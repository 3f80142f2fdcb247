package io.jmesh.ca.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Draining: requests accepted before finish, new ones are refused as retryable, trust-bundle watches end. */
@Timeout(60)
class DrainTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @RegisterExtension
    CaServerExtension ca = CaServerExtension.builder().build();

    @Test
    void drainFinishesAcceptedWorkAndRefusesNewWork() throws Exception {
        Vertx vertx = Vertx.vertx();
        try (CaClient client = ca.client(vertx)) {
            String token = ca.nodeToken("node-a");
            AtomicBoolean watchEnded = new AtomicBoolean();
            client.watchTrustBundle(0, b -> { }).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS)
                    .endHandler(v -> watchEnded.set(true));
            List<Future<IstioCertificateResponse>> accepted = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                accepted.add(client.createCertificate(token, TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null));
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> ca.metric("ca_signing_pending") > 0
                    || accepted.stream().allMatch(Future::isComplete));
            var drained = ca.bootstrap().drain();

            Future.join(new ArrayList<>(accepted)).toCompletionStage().toCompletableFuture().handle((r, e) -> null)
                    .get(30, TimeUnit.SECONDS);
            for (Future<IstioCertificateResponse> f : accepted) {
                // each one either was signed, or arrived after the drain began and was told to retry elsewhere
                if (f.failed()) {
                    assertThat(((CaCallException) f.cause()).status()).isEqualTo(GrpcStatus.UNAVAILABLE);
                }
            }
            drained.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertThatThrownBy(() -> client.createCertificate(token, TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null)
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS))
                    .cause().isInstanceOfSatisfying(CaCallException.class, e -> {
                        assertThat(e.status()).isEqualTo(GrpcStatus.UNAVAILABLE);
                        assertThat(e.statusMessage()).contains("shutting down");
                    });
            await().atMost(Duration.ofSeconds(10)).untilTrue(watchEnded);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
