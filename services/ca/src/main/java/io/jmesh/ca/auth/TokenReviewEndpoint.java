package io.jmesh.ca.auth;

import com.google.protobuf.Timestamp;
import io.jmesh.ca.issuance.BearerToken;
import io.jmesh.core.grpc.Decoded;
import io.jmesh.core.grpc.SingleRequest;
import io.jmesh.proto.ca.v1.TokenReviewGrpcService;
import io.jmesh.proto.ca.v1.TokenReviewRequest;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;

/**
 * {@code jmesh.ca.v1.TokenReview/Review}: lets control-plane services (policy) authenticate ztunnels with the
 * tokens the CA minted. The reviewing service must itself present a valid service token (a node may not probe
 * other nodes' tokens). An invalid reviewed token is a normal answer ({@code authenticated = false}).
 *
 * <p>Local reviews are in-memory lookups and run on the event loop; Kubernetes TokenReviews run on a worker.
 */
public final class TokenReviewEndpoint {

    private final Vertx vertx;
    private final TokenReviewer reviewer;

    public TokenReviewEndpoint(Vertx vertx, TokenReviewer reviewer) {
        this.vertx = vertx;
        this.reviewer = reviewer;
    }

    public void bind(GrpcServer server) {
        server.callHandler(Decoded.method(TokenReviewGrpcService.Review), this::handle);
    }

    private void handle(GrpcServerRequest<Decoded<TokenReviewRequest>, TokenReviewResponse> call) {
        String callerToken = BearerToken.from(call.headers().get("authorization"));
        SingleRequest.read(call, "TokenReviewRequest", request -> reviewer.reviewAsync(vertx, callerToken)
                .onComplete(ar -> {
            TokenReviewer.Review self = ar.succeeded() ? ar.result()
                    : TokenReviewer.Review.unavailable(String.valueOf(ar.cause().getMessage()));
            if (self.unavailable()) {
                call.response().status(GrpcStatus.UNAVAILABLE).statusMessage("cannot check the caller's token now: "
                        + self.error()).end();
                return;
            }
            if (!self.authenticated()) {
                call.response().status(GrpcStatus.UNAUTHENTICATED).statusMessage("authentication failed: "
                        + self.error() + " (expected: metadata 'authorization: Bearer <service token>')").end();
                return;
            }
            if (self.caller().isNode()) {
                call.response().status(GrpcStatus.PERMISSION_DENIED).statusMessage(self.caller().describe()
                        + " may not review tokens (expected: a control-plane service token)").end();
                return;
            }
            reviewer.reviewAsync(vertx, request.getToken()).onComplete(reviewed -> {
                if (reviewed.failed() || reviewed.result().unavailable()) {
                    call.response().status(GrpcStatus.UNAVAILABLE).statusMessage("cannot review the token now: "
                            + (reviewed.failed() ? reviewed.cause().getMessage() : reviewed.result().error())).end();
                } else {
                    call.response().end(answer(reviewed.result()));
                }
            });
        }));
    }

    static TokenReviewResponse answer(TokenReviewer.Review r) {
        if (!r.authenticated()) {
            return TokenReviewResponse.newBuilder().setAuthenticated(false).setError(r.error()).build();
        }
        Caller c = r.caller();
        TokenReviewResponse.Builder b = TokenReviewResponse.newBuilder().setAuthenticated(true)
                .setIdentity(c.identity().uri()).setTokenId(c.tokenId());
        if (c.node() != null) {
            b.setNode(c.node());
        }
        if (c.expiresAt() != null) {
            b.setExpiresAt(Timestamp.newBuilder().setSeconds(c.expiresAt().getEpochSecond())
                    .setNanos(c.expiresAt().getNano()));
        }
        return b.build();
    }
}
