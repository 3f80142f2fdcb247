package io.jmesh.policy.auth;

import io.jmesh.proto.ca.v1.TokenReviewGrpcClient;
import io.jmesh.proto.ca.v1.TokenReviewRequest;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Asks the CA's {@code jmesh.ca.v1.TokenReview} whether a bearer token is valid and which node it stands for.
 * The review call itself carries this service's own token when one is configured.
 */
public final class TokenReviewAuthenticator implements NodeAuthenticator {

    private final GrpcClient client;
    private final SocketAddress reviewer;
    private final Supplier<String> ownToken;
    private final Duration timeout;

    /**
     * @param client a gRPC client (TLS configured by the caller)
     * @param reviewer address of the CA's TokenReview service
     * @param ownToken this service's token for the review call, asked for at each call (a rotated token file is
     *     followed); empty for none
     */
    public TokenReviewAuthenticator(GrpcClient client, SocketAddress reviewer, Supplier<String> ownToken,
            Duration timeout) {
        this.client = client;
        this.reviewer = reviewer;
        this.ownToken = ownToken;
        this.timeout = timeout;
    }

    @Override
    public Future<Caller> authenticate(String authorizationHeader) {
        String token = NodeAuthenticator.bearer(authorizationHeader);
        if (token == null) {
            return Future.failedFuture(new Unauthenticated("missing bearer token"));
        }
        String own;
        try {
            own = ownToken.get();
        } catch (RuntimeException e) {
            // our own credential is unreadable: the caller's token was not judged, so retryable, not a refusal
            return Future.failedFuture(e);
        }
        return client.request(reviewer, TokenReviewGrpcClient.Review).compose(call -> {
            if (!own.isEmpty()) {
                call.headers().set("authorization", "Bearer " + own);
            }
            call.timeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
            call.end(TokenReviewRequest.newBuilder().setToken(token).build());
            return call.response().compose(GrpcClientResponse::last);
        }).compose(TokenReviewAuthenticator::toCaller);
    }

    private static Future<Caller> toCaller(TokenReviewResponse r) {
        if (!r.getAuthenticated()) {
            return Future.failedFuture(new Unauthenticated(r.getError().isEmpty() ? "token refused" : r.getError()));
        }
        return Future.succeededFuture(new Caller(r.getNode(), r.getIdentity()));
    }
}
