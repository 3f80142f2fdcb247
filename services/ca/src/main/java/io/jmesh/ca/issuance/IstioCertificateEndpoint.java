package io.jmesh.ca.issuance;

import io.jmesh.core.grpc.Decoded;
import io.jmesh.core.grpc.SingleRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcService;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.MessageSizeOverflowException;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Istio's {@code istio.v1.auth.IstioCertificateService/CreateCertificate} on Vert.x gRPC. The event loop only reads
 * the bearer token and hands the request to the {@link SigningPool}; the answer is written back on the call's own
 * event loop. Requests beyond the pool's bound, requests during drain and oversize messages are refused at once.
 *
 * <p>Thread-safe; one instance serves every event loop.
 */
public final class IstioCertificateEndpoint {

    private final CertificateIssuer issuer;
    private final SigningPool pool;
    private final long maxRequestBytes;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicBoolean draining = new AtomicBoolean();

    public IstioCertificateEndpoint(CertificateIssuer issuer, SigningPool pool, long maxRequestBytes) {
        this.issuer = issuer;
        this.pool = pool;
        this.maxRequestBytes = maxRequestBytes;
    }

    /** Registers the method on {@code server}. */
    public void bind(GrpcServer server) {
        server.callHandler(Decoded.method(IstioCertificateServiceGrpcService.CreateCertificate), this::handle);
    }

    private void handle(GrpcServerRequest<Decoded<IstioCertificateRequest>, IstioCertificateResponse> call) {
        long arrival = System.nanoTime();
        Context context = Vertx.currentContext();
        String token = BearerToken.from(call.headers().get("authorization"));
        // exactly one request message, decided at the client's end of stream: a call without one is answered, and
        // extra messages never cost a signature each
        SingleRequest.read(call, "IstioCertificateRequest", request -> submit(call, context, token, request, arrival),
                (problem, invalid) -> refuse(call, invalid instanceof MessageSizeOverflowException
                        ? issuer.refuseEarly(RefusalReason.REQUEST_TOO_LARGE, "request: larger than "
                                + maxRequestBytes + " bytes (expected: <= " + maxRequestBytes + ")")
                        : issuer.refuseEarly(RefusalReason.INVALID_CSR, invalid != null
                                ? "request: not a valid IstioCertificateRequest message" : problem)));
    }

    private void submit(GrpcServerRequest<Decoded<IstioCertificateRequest>, IstioCertificateResponse> call,
            Context context,
            String token, IstioCertificateRequest request, long arrival) {
        if (draining.get()) {
            refuse(call, issuer.refuseEarly(RefusalReason.OVERLOADED, "ca replica is shutting down (retry)"));
            return;
        }
        inFlight.incrementAndGet();
        boolean queued = pool.submit(() -> {
            try {
                IstioCertificateResponse response = issuer.issue(token, request, arrival);
                context.runOnContext(v -> call.response().end(response));
            } catch (Refusal r) {
                context.runOnContext(v -> refuse(call, r));
            } catch (RuntimeException e) {
                Refusal r = issuer.refuseEarly(RefusalReason.INTERNAL, "internal error: " + e);
                context.runOnContext(v -> refuse(call, r));
            } finally {
                inFlight.decrementAndGet();
            }
        });
        if (!queued) {
            inFlight.decrementAndGet();
            refuse(call, issuer.refuseEarly(RefusalReason.OVERLOADED,
                    "ca overloaded: every signing thread busy and the queue full (retry with backoff)"));
        }
    }

    private static void refuse(GrpcServerRequest<?, ?> call, Refusal r) {
        try {
            call.response().status(r.reason().status()).statusMessage(r.getMessage()).end();
        } catch (IllegalStateException alreadyAnswered) {
            // the call was answered (or reset by the peer) already: nothing more to say
        }
    }

    /** Refuses new requests from now on; in-flight ones complete. */
    public void drain() {
        draining.set(true);
    }

    /** Requests accepted and not yet answered. */
    public int inFlight() {
        return inFlight.get();
    }
}
