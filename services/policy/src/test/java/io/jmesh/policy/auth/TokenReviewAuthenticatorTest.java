package io.jmesh.policy.auth;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.identity.BearerTokenFile;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * policy's own credential on its TokenReview calls to ca: read from its token file at each call, so a projected
 * ServiceAccount token the kubelet rotated is the one presented, never the expired one policy started with.
 */
class TokenReviewAuthenticatorTest {

    @TempDir
    Path dir;
    Vertx vertx;
    FakeTokenReview review;
    GrpcClient client;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        TestPki pki = TestPki.create(dir);
        review = new FakeTokenReview(vertx, pki).nodeToken("node-token", "node-a");
        client = GrpcClient.client(vertx, GrpcTls.client(pki.roots));
    }

    @AfterEach
    void stop() throws Exception {
        review.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    TokenReviewAuthenticator authenticator(String tokenFile) {
        return new TokenReviewAuthenticator(client, SocketAddress.inetSocketAddress(review.port(), "127.0.0.1"),
                BearerTokenFile.of(tokenFile), Duration.ofSeconds(5));
    }

    static <T> T await(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void eachReviewPresentsTheTokenTheFileHoldsThen() throws Exception {
        Path file = Files.writeString(dir.resolve("istio-token"), "policy-token-1\n");
        TokenReviewAuthenticator auth = authenticator(file.toString());

        assertThat(await(auth.authenticate("Bearer node-token")).node()).isEqualTo("node-a");
        Files.writeString(file, "policy-token-2\n"); // the kubelet rotated it
        assertThat(await(auth.authenticate("Bearer node-token")).node()).isEqualTo("node-a");

        assertThat(review.callerCredentials()).containsExactly("Bearer policy-token-1", "Bearer policy-token-2");
    }

    @Test
    void withoutATokenFileTheReviewCarriesNoCredential() throws Exception {
        assertThat(await(authenticator("").authenticate("Bearer node-token")).node()).isEqualTo("node-a");
        assertThat(review.callerCredentials()).containsExactly("");
    }

    @Test
    void anUnreadableOwnTokenFailsTheCallAsRetryableNotAsARefusedCaller() throws Exception {
        Future<Caller> f = authenticator(dir.resolve("gone").toString())
                .authenticate("Bearer node-token");
        Throwable cause = f.toCompletionStage().toCompletableFuture().handle((v, t) -> t).get(10, TimeUnit.SECONDS);
        assertThat(cause).isNotNull().isNotInstanceOf(NodeAuthenticator.Unauthenticated.class)
                .hasMessageContaining("cannot read the token file");
        assertThat(review.callerCredentials()).isEmpty();
    }
}
