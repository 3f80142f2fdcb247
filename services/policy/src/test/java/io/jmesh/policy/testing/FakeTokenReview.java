package io.jmesh.policy.testing;

import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.proto.ca.v1.TokenReviewGrpcService;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.grpc.server.GrpcServer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A small {@code jmesh.ca.v1.TokenReview} server over TLS, built from the proto, standing in for the CA (which is
 * developed in parallel): tokens map to a node and an identity.
 */
public final class FakeTokenReview implements AutoCloseable {

    private final Map<String, TokenReviewResponse> tokens = new ConcurrentHashMap<>();
    private final List<String> callers = new CopyOnWriteArrayList<>();
    private final HttpServer server;
    private final List<Runnable> held = new CopyOnWriteArrayList<>();
    private volatile boolean holding;
    private final java.util.Set<String> slowTokens = ConcurrentHashMap.newKeySet();

    public FakeTokenReview(Vertx vertx, TestPki pki) throws Exception {
        this(vertx, pki, 0);
    }

    /** Serving under {@code pki}'s root on {@code port} (0: any). */
    public FakeTokenReview(Vertx vertx, TestPki pki, int port) throws Exception {
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(TokenReviewGrpcService.Review, call -> {
            String own = call.headers().get("authorization");
            callers.add(own == null ? "" : own);
            call.handler(req -> {
                Runnable answer = () -> call.response().end(tokens.getOrDefault(req.getToken(),
                        TokenReviewResponse.newBuilder().setError("unknown token").build()));
                if (holding || slowTokens.contains(req.getToken())) {
                    held.add(answer);
                } else {
                    answer.run();
                }
            });
        });
        server = vertx.createHttpServer(GrpcTls.server("127.0.0.1", port, pki.cert(), pki.key())).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    public FakeTokenReview nodeToken(String token, String node) {
        tokens.put(token, TokenReviewResponse.newBuilder().setAuthenticated(true).setNode(node)
                .setIdentity("spiffe://cluster.local/ns/istio-system/sa/ztunnel").build());
        return this;
    }

    public FakeTokenReview serviceToken(String token, String identity) {
        tokens.put(token, TokenReviewResponse.newBuilder().setAuthenticated(true).setIdentity(identity).build());
        return this;
    }

    /** Answers no review until {@link #release}: a slow CA. */
    public FakeTokenReview hold() {
        holding = true;
        return this;
    }

    /** Answers no review of {@code token} until {@link #release}: a token whose review is slow. */
    public FakeTokenReview slowToReview(String token) {
        slowTokens.add(token);
        return this;
    }

    /** Reviews held so far (they are answered on release). */
    public int heldReviews() {
        return held.size();
    }

    /** Answers the held reviews, in order, and every later one at once. */
    public void release() {
        holding = false;
        slowTokens.clear();
        List<Runnable> answers = List.copyOf(held);
        held.clear();
        answers.forEach(Runnable::run);
    }

    /** The {@code authorization} header of each review call so far, in order ("" when there was none). */
    public List<String> callerCredentials() {
        return List.copyOf(callers);
    }

    public int port() {
        return server.actualPort();
    }

    @Override
    public void close() throws Exception {
        server.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
