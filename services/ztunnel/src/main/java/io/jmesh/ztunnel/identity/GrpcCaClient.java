package io.jmesh.ztunnel.identity;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * {@link CaClient} over gRPC: {@code istio.v1.auth.IstioCertificateService/CreateCertificate} with
 * {@code ImpersonatedIdentity} metadata, authenticated as the node ({@code authorization: Bearer <token>},
 * {@code clusterid}).
 *
 * <p>Each call has a deadline, connecting included: past it the call fails, its stream is cancelled and a late
 * answer is dropped. The deadline is also sent as {@code grpc-timeout}, so the CA can give up too.
 */
public final class GrpcCaClient implements CaClient {

    private final Vertx vertx;
    private final GrpcClient client;
    private final SocketAddress address;
    private final Supplier<String> token;
    private final String clusterId;
    private final Duration deadline;

    /** @param deadline longest a call may take (see {@code identity.csrTimeout}) */
    public GrpcCaClient(Vertx vertx, GrpcClient client, SocketAddress address, Supplier<String> token,
            String clusterId, Duration deadline) {
        if (deadline.isNegative() || deadline.isZero()) {
            throw new IllegalArgumentException("deadline: " + deadline + " (expected: > 0)");
        }
        this.vertx = vertx;
        this.client = client;
        this.address = address;
        this.token = token;
        this.clusterId = clusterId;
        this.deadline = deadline;
    }

    @Override
    public Future<List<String>> createCertificate(String csrPem, SpiffeId identity, Duration ttl) {
        IstioCertificateRequest req = IstioCertificateRequest.newBuilder()
                .setCsr(csrPem)
                .setValidityDuration(ttl.toSeconds())
                .setMetadata(Struct.newBuilder().putFields("ImpersonatedIdentity",
                        Value.newBuilder().setStringValue(identity.uri()).build()))
                .build();
        // read before any call is opened: an unreadable token file (BearerTokenFile throws) must fail this CSR with
        // its own reason, not escape the connect callback and leave the call to end at the deadline as "no answer"
        String bearer;
        try {
            bearer = token.get();
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        // without a deadline a CA that takes the CSR and never answers would hold one of the identity manager's
        // CSR slots for good: after maxConcurrentCsrs such calls no identity would be fetched again
        Promise<List<String>> result = Promise.promise();
        long start = System.nanoTime();
        long timer = vertx.setTimer(deadline.toMillis(), t -> result.tryFail(
                "ca did not answer within " + deadline.toMillis() + " ms (identity.csrTimeout)"));
        client.request(address, IstioCertificateServiceGrpcClient.CreateCertificate).onComplete(ar -> {
            if (ar.failed()) {
                result.tryFail(ar.cause());
                return;
            }
            GrpcClientRequest<IstioCertificateRequest, IstioCertificateResponse> call = ar.result();
            if (result.future().isComplete()) {
                call.cancel(); // the deadline passed while connecting
                return;
            }
            // past the deadline (or any failure) the stream is reset: the CA stops, and an answer is dropped
            result.future().onFailure(e -> call.cancel());
            if (bearer != null && !bearer.isEmpty()) {
                call.headers().set("authorization", "Bearer " + bearer);
            }
            call.headers().set("clusterid", clusterId);
            long left = deadline.toNanos() - (System.nanoTime() - start);
            call.timeout(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)), TimeUnit.MILLISECONDS);
            call.end(req);
            answer(call).onComplete(result::tryComplete, result::tryFail);
        });
        return result.future().onComplete(ar -> vertx.cancelTimer(timer));
    }

    private static Future<List<String>> answer(
            GrpcClientRequest<IstioCertificateRequest, IstioCertificateResponse> call) {
        return call.response().compose(resp -> resp.last().transform(ar -> {
            if (resp.status() != null && resp.status() != GrpcStatus.OK) {
                return Future.failedFuture("ca answered " + resp.status() + ": " + resp.statusMessage());
            }
            if (ar.failed()) {
                return Future.failedFuture(ar.cause());
            }
            // the chain itself (empty, malformed, wrong leaf) is checked by CaAnswer, which counts why it refuses
            return Future.succeededFuture(List.copyOf(ar.result().getCertChainList()));
        }));
    }

}
