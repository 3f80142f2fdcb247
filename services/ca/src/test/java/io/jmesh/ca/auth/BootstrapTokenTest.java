package io.jmesh.ca.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.jmesh.ca.cli.CaCli;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.testing.CaCallException;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Bootstrap tokens: stored hashed, minted and rotated by the CLI, picked up by the running CA, reviewable. */
@Timeout(60)
class BootstrapTokenTest {

    static final String ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().build();

    static Vertx vertx;
    static CaClient client;

    @BeforeAll
    static void client() {
        vertx = Vertx.vertx();
        client = ca.client(vertx);
    }

    @AfterAll
    static void close() throws Exception {
        client.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private record Result(int code, String out, String err) {}

    private static Result cli(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = new CaCli(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), Clock.systemUTC()).run(args);
        return new Result(code, out.toString(StandardCharsets.UTF_8).trim(), err.toString(StandardCharsets.UTF_8));
    }

    private static Future<?> ownCertificate(String token) {
        return client.createCertificate(token, TestCsrs.forIdentity(ZTUNNEL).pem(), 3600, null);
    }

    @Test
    void cliMintedTokenWorksAndRotationRevokesThePreviousOne() throws Exception {
        String dir = ca.stateDir().toString();
        Result created = cli("token", "create", "--node", "node-r", "--state-dir", dir);
        assertThat(created.code()).as(created.err()).isZero();
        String first = created.out();
        assertThat(first).startsWith("jmesh.").doesNotContain("\n");
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().untilAsserted(() -> get(ownCertificate(first)));

        Result rotated = cli("token", "rotate", "--node", "node-r", "--state-dir", dir);
        assertThat(rotated.code()).as(rotated.err()).isZero();
        String second = rotated.out();
        assertThat(second).isNotEqualTo(first);
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().untilAsserted(() -> get(ownCertificate(second)));
        assertThatThrownBy(() -> get(ownCertificate(first))).cause()
                .isInstanceOfSatisfying(CaCallException.class, e -> {
                    assertThat(e.status()).isEqualTo(GrpcStatus.UNAUTHENTICATED);
                    assertThat(e.statusMessage()).contains("revoked at");
                });
    }

    @Test
    void tokensAreStoredOnlyAsHashesInAPrivateFile() throws Exception {
        String token = ca.nodeToken("node-h");
        Path file = ca.stateDir().resolve(StateDirectory.TOKENS);
        String stored = Files.readString(file);
        String secret = token.substring(token.lastIndexOf('.') + 1);
        assertThat(stored).doesNotContain(secret).contains(BootstrapTokens.hash(secret));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    }

    @Test
    void cliWritesTokenToAFileAndRefusesBadUsage(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("node-f.token");
        Result r = cli("token", "create", "--node", "node-f", "--ttl", "1h", "--out", out.toString(),
                "--state-dir", ca.stateDir().toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(Files.readString(out).trim()).startsWith("jmesh.");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out))).isEqualTo("rw-------");

        assertThat(cli("token", "create", "--node", "Bad_Name", "--state-dir", ca.stateDir().toString()).err())
                .contains("node: 'Bad_Name'");
        assertThat(cli("token", "create", "--state-dir", ca.stateDir().toString()).code()).isEqualTo(2);
        assertThat(cli("token", "frobnicate", "--state-dir", ca.stateDir().toString()).code()).isEqualTo(2);
    }

    @Test
    void tokenReviewAuthenticatesNodesForServices() throws Exception {
        String policy = ca.serviceToken("policy");
        TokenReviewResponse ok = get(client.review(policy, ca.nodeToken("node-a")));
        assertThat(ok.getAuthenticated()).isTrue();
        assertThat(ok.getNode()).isEqualTo("node-a");
        assertThat(ok.getIdentity()).isEqualTo(ZTUNNEL);
        assertThat(ok.getTokenId()).isNotEmpty();

        TokenReviewResponse bad = get(client.review(policy, "jmesh.0123456789abcdef.wrong"));
        assertThat(bad.getAuthenticated()).isFalse();
        assertThat(bad.getError()).isEqualTo("unknown token");

        assertThatThrownBy(() -> get(client.review(ca.nodeToken("node-a"), policy))).cause()
                .isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.PERMISSION_DENIED));
        assertThatThrownBy(() -> get(client.review(null, policy))).cause()
                .isInstanceOfSatisfying(CaCallException.class,
                        e -> assertThat(e.status()).isEqualTo(GrpcStatus.UNAUTHENTICATED));
    }
}
