package io.jmesh.ca.revocation;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import io.jmesh.ca.auth.BootstrapTokens;
import io.jmesh.ca.auth.Caller;
import io.jmesh.ca.auth.TokenReviewer;
import io.jmesh.ca.issuance.BearerToken;
import io.jmesh.core.grpc.Decoded;
import io.jmesh.core.grpc.SingleRequest;
import io.jmesh.proto.ca.v1.BootstrapToken;
import io.jmesh.proto.ca.v1.CaAdminGrpcService;
import io.jmesh.proto.ca.v1.CreateBootstrapTokenResponse;
import io.jmesh.proto.ca.v1.GetCrlResponse;
import io.jmesh.proto.ca.v1.ListBootstrapTokensResponse;
import io.jmesh.proto.ca.v1.ListRevocationsResponse;
import io.jmesh.proto.ca.v1.Revocation;
import io.jmesh.proto.ca.v1.RevokeBootstrapTokenResponse;
import io.jmesh.proto.ca.v1.RevokeResponse;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code jmesh.ca.v1.CaAdmin}: revocation, the CRL and bootstrap tokens, for operators. The caller must present a
 * token of the {@code admin} service ({@code ca token create --service admin}); anyone else gets
 * {@code PERMISSION_DENIED}. The work (files, signing) runs off the event loop. Every refused call is counted in
 * {@code ca_admin_refused_total{method,reason}} (reason: the gRPC status, lower case).
 */
public final class CaAdminEndpoint {

    /** The service whose tokens may administer the CA. */
    public static final String ADMIN_SERVICE = "admin";

    private final Vertx vertx;
    private final TokenReviewer reviewer;
    private final Revocations revocations;
    private final BootstrapTokens tokens;
    private final java.util.function.LongSupplier bundleVersion;
    private final String trustDomain;
    private final Duration defaultTokenTtl;
    private final Counter refused;

    public CaAdminEndpoint(Vertx vertx, TokenReviewer reviewer, Revocations revocations, BootstrapTokens tokens,
            java.util.function.LongSupplier bundleVersion, String trustDomain, Duration defaultTokenTtl,
            PrometheusRegistry metrics) {
        this.vertx = vertx;
        this.refused = Counter.builder().name("ca_admin_refused_total")
                .help("CaAdmin calls refused, by method and reason (the gRPC status)")
                .labelNames("method", "reason").register(metrics);
        this.defaultTokenTtl = defaultTokenTtl;
        this.trustDomain = trustDomain;
        this.reviewer = reviewer;
        this.revocations = revocations;
        this.tokens = tokens;
        this.bundleVersion = bundleVersion;
    }

    public void bind(GrpcServer server) {
        handle(server, CaAdminGrpcService.Revoke, (caller, req) -> {
            String by = caller.identity().uri();
            List<Revocation> added = switch (req.getTargetCase()) {
                case SERIAL_HEX -> revocations.revokeSerial(req.getSerialHex(), req.getReason(), req.getComment(), by);
                case IDENTITY -> revocations.revokeIdentity(
                        RevokedIdentity.parse("identity", req.getIdentity(), trustDomain).uri(),
                        req.getReason(), req.getComment(), by);
                case TARGET_NOT_SET -> throw new IllegalArgumentException(
                        "target: missing (expected: serial_hex or identity)");
            };
            RevokeResponse.Builder b = RevokeResponse.newBuilder().setTrustBundleVersion(bundleVersion.getAsLong());
            added.forEach(r -> b.addRevokedSerialsHex(r.getSerialHex()));
            return b.build();
        });
        handle(server, CaAdminGrpcService.ListRevocations, (caller, req) -> {
            revocations.store().reloadIfChanged();
            long now = Instant.now().getEpochSecond();
            ListRevocationsResponse.Builder b = ListRevocationsResponse.newBuilder();
            for (Revocation r : revocations.store().all().values()) {
                boolean expired = r.hasNotAfter() && r.getNotAfter().getSeconds() < now;
                if ((req.getIdentity().isEmpty() || req.getIdentity().equals(r.getIdentity()))
                        && (req.getIncludeExpired() || !expired)) {
                    b.addRevocations(r);
                }
            }
            return b.build();
        });
        handle(server, CaAdminGrpcService.GetCrl, (caller, req) -> {
            revocations.refresh();
            CrlSigner.SignedCrl crl = revocations.crl();
            return GetCrlResponse.newBuilder().setCrlDer(ByteString.copyFrom(crl.der())).setCrlPem(crl.pem())
                    .setCrlNumber(crl.number().longValue()).setThisUpdate(ts(crl.thisUpdate()))
                    .setNextUpdate(ts(crl.nextUpdate())).build();
        });
        handle(server, CaAdminGrpcService.CreateBootstrapToken, (caller, req) -> {
            Duration ttl = req.hasTtl() && (req.getTtl().getSeconds() > 0 || req.getTtl().getNanos() > 0)
                    ? Duration.ofSeconds(req.getTtl().getSeconds(), req.getTtl().getNanos()) : defaultTokenTtl;
            String by = caller.identity().uri();
            BootstrapTokens.Created c = switch (req.getSubjectCase()) {
                case NODE -> tokens.createForNode(req.getNode(), ttl, by, req.getDescription());
                case SERVICE -> tokens.createForService(req.getService(), ttl, by, req.getDescription());
                case SUBJECT_NOT_SET -> throw new IllegalArgumentException("subject: missing (expected: node or service)");
            };
            return CreateBootstrapTokenResponse.newBuilder().setToken(c.token()).setInfo(info(c.info())).build();
        });
        handle(server, CaAdminGrpcService.RevokeBootstrapToken,
                (caller, req) -> RevokeBootstrapTokenResponse.newBuilder()
                        .setToken(info(tokens.revoke(req.getTokenId()))).build());
        handle(server, CaAdminGrpcService.ListBootstrapTokens, (caller, req) -> {
            tokens.reloadIfChanged();
            ListBootstrapTokensResponse.Builder b = ListBootstrapTokensResponse.newBuilder();
            Instant now = Instant.now();
            for (BootstrapTokens.TokenInfo t : tokens.list()) {
                if ((req.getNode().isEmpty() || req.getNode().equals(t.node()))
                        && (req.getIncludeInactive() || t.activeAt(now))) {
                    b.addTokens(info(t));
                }
            }
            return b.build();
        });
    }

    /** One admin operation, given the authenticated admin caller. */
    @FunctionalInterface
    private interface Operation<Req, Resp> {
        Resp apply(Caller caller, Req request) throws Exception;
    }

    private <Req, Resp> void handle(GrpcServer server, ServiceMethod<Req, Resp> method, Operation<Req, Resp> op) {
        server.callHandler(Decoded.method(method), call -> {
            String token = BearerToken.from(call.headers().get("authorization"));
            SingleRequest.read(call, method.methodName() + " request", req -> reviewer.reviewAsync(vertx, token)
                    .onComplete(reviewed -> {
                TokenReviewer.Review review = reviewed.succeeded() ? reviewed.result()
                        : TokenReviewer.Review.unavailable(String.valueOf(reviewed.cause().getMessage()));
                if (review.unavailable()) {
                    fail(call, method, GrpcStatus.UNAVAILABLE,
                            "cannot check the caller's token now: " + review.error());
                    return;
                }
                if (!review.authenticated()) {
                    fail(call, method, GrpcStatus.UNAUTHENTICATED, "authentication failed: " + review.error());
                    return;
                }
                Caller caller = review.caller();
                if (!ADMIN_SERVICE.equals(caller.service())) {
                    fail(call, method, GrpcStatus.PERMISSION_DENIED, caller.describe()
                            + " may not administer the CA (expected: a token of service '" + ADMIN_SERVICE + "')");
                    return;
                }
                Callable<Resp> work = () -> op.apply(caller, req);
                vertx.executeBlocking(work, false).onComplete(ar -> {
                    if (ar.succeeded()) {
                        call.response().end(ar.result());
                    } else if (ar.cause() instanceof IllegalArgumentException) {
                        fail(call, method, GrpcStatus.INVALID_ARGUMENT, ar.cause().getMessage());
                    } else {
                        fail(call, method, GrpcStatus.INTERNAL, String.valueOf(ar.cause().getMessage()));
                    }
                });
            }), (problem, invalid) -> fail(call, method, GrpcStatus.INVALID_ARGUMENT, problem));
        });
    }

    private void fail(GrpcServerRequest<?, ?> call, ServiceMethod<?, ?> method, GrpcStatus status, String message) {
        refused.labelValues(method.methodName(), status.name().toLowerCase(java.util.Locale.ROOT)).inc();
        call.response().status(status).statusMessage(message).end();
    }

    private BootstrapToken info(BootstrapTokens.TokenInfo t) {
        BootstrapToken.Builder b = BootstrapToken.newBuilder().setTokenId(t.id()).setCreatedAt(ts(t.createdAt()))
                .setCreatedBy(t.createdBy()).setDescription(t.description());
        if (t.node() != null) {
            b.setNode(t.node()).setIdentity(Caller.nodeIdentity(trustDomain).uri());
        } else {
            b.setService(t.service()).setIdentity(Caller.serviceIdentity(trustDomain, t.service()).uri());
        }
        if (t.expiresAt() != null) {
            b.setExpiresAt(ts(t.expiresAt()));
        }
        if (t.revokedAt() != null) {
            b.setRevokedAt(ts(t.revokedAt()));
        }
        return b.build();
    }

    static Timestamp ts(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }

}
