package io.jmesh.ca.issuance;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Beyond one signing thread and a queue of two, a burst is answered at once: issued or UNAVAILABLE, never lost. */
@Timeout(60)
class OverloadTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder()
            .config("certificates.signingThreads", "1")
            .config("certificates.maxPendingSignatures", "2")
            .build();

    @Test
    void aBurstBeyondTheQueueIsRefusedAsOverloadedAndCounted() throws Exception {
        Vertx vertx = Vertx.vertx();
        try (CaClient client = ca.client(vertx)) {
            String token = ca.nodeToken("node-a");
            List<String> csrs = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                csrs.add(TestCsrs.forIdentity(ZTUNNEL).pem());
            }
            // warm the connection, then send the whole burst from one event-loop turn
            client.createCertificate(token, csrs.get(0), 3600, null).toCompletionStage().toCompletableFuture()
                    .get(30, TimeUnit.SECONDS);
            java.util.concurrent.CompletableFuture<List<Future<IstioCertificateResponse>>> sent =
                    new java.util.concurrent.CompletableFuture<>();
            vertx.runOnContext(v -> {
                List<Future<IstioCertificateResponse>> calls = new ArrayList<>();
                csrs.forEach(c -> calls.add(client.createCertificate(token, c, 3600, null)));
                sent.complete(calls);
            });
            List<Future<IstioCertificateResponse>> burst = sent.get(30, TimeUnit.SECONDS);
            Future.join(new ArrayList<>(burst)).toCompletionStage().toCompletableFuture()
                    .handle((r, e) -> null).get(30, TimeUnit.SECONDS);

            int issued = 0;
            int overloaded = 0;
            for (Future<IstioCertificateResponse> f : burst) {
                if (f.succeeded()) {
                    issued++;
                } else {
                    assertThat(f.cause()).isInstanceOfSatisfying(CaCallException.class, e -> {
                        assertThat(e.status()).isEqualTo(GrpcStatus.UNAVAILABLE);
                        assertThat(e.statusMessage()).startsWith("ca overloaded");
                    });
                    overloaded++;
                }
            }
            assertThat(issued + overloaded).isEqualTo(csrs.size());
            assertThat(issued).isPositive();
            assertThat(overloaded).isPositive();
            assertThat(ca.metric("ca_certificates_refused_total", "reason", "overloaded")).isEqualTo(overloaded);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
