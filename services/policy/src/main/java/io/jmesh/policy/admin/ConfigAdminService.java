package io.jmesh.policy.admin;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.grpc.Decoded;
import io.jmesh.core.grpc.SingleRequest;
import io.jmesh.policy.auth.Caller;
import io.jmesh.policy.auth.NodeAuthenticator;
import io.jmesh.policy.source.ConfigSink;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.policy.v1.ApplyRequest;
import io.jmesh.proto.policy.v1.ApplyResponse;
import io.jmesh.proto.policy.v1.ConfigAdminGrpcService;
import io.jmesh.proto.policy.v1.DeleteRequest;
import io.jmesh.proto.policy.v1.DeleteResponse;
import io.jmesh.proto.policy.v1.ListRequest;
import io.jmesh.proto.policy.v1.ListResponse;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code jmesh.policy.v1.ConfigAdmin} API: apply (validate + write to the config log), delete (tombstone),
 * list (this replica's materialized state). Callers present a bearer token; only identities listed as admins
 * may call. Writes run on a worker (Kafka may block on metadata).
 */
public final class ConfigAdminService {

    private static final Logger log = LoggerFactory.getLogger(ConfigAdminService.class);

    private final Vertx vertx;
    private final NodeAuthenticator authenticator;
    private final Set<String> adminIdentities;
    private final ConfigSink sink;

    public ConfigAdminService(Vertx vertx, NodeAuthenticator authenticator, Set<String> adminIdentities,
            ConfigSink sink) {
        this.vertx = vertx;
        this.authenticator = authenticator;
        this.adminIdentities = Set.copyOf(adminIdentities);
        this.sink = sink;
    }

    public void bind(GrpcServer grpc) {
        grpc.callHandler(Decoded.method(ConfigAdminGrpcService.Apply), call -> unary(call, this::apply));
        grpc.callHandler(Decoded.method(ConfigAdminGrpcService.Delete), call -> unary(call, this::delete));
        grpc.callHandler(Decoded.method(ConfigAdminGrpcService.List), call -> unary(call, (caller, req) -> list(req)));
    }

    private Future<ApplyResponse> apply(Caller caller, ApplyRequest req) {
        log.atInfo().addKeyValue("caller", caller.identity()).addKeyValue("manifests", req.getManifestsCount())
                .addKeyValue("dryRun", req.getDryRun()).log("apply");
        return vertx.executeBlocking(() -> sink.apply(req.getManifestsList(), "admin-api:" + caller.identity(),
                req.getDryRun())).compose(Future::fromCompletionStage)
                .map(results -> ApplyResponse.newBuilder().addAllResults(results).build());
    }

    private Future<DeleteResponse> delete(Caller caller, DeleteRequest req) {
        ConfigKey key;
        try {
            key = new ConfigKey(req.getKind(), req.getNamespace(), req.getName());
        } catch (IllegalArgumentException e) {
            return Future.failedFuture(new BadRequest(e.getMessage()));
        }
        log.atInfo().addKeyValue("caller", caller.identity()).addKeyValue("object", key).log("delete");
        return vertx.executeBlocking(() -> sink.delete(key, req.getDryRun())).compose(Future::fromCompletionStage)
                .map(deleted -> DeleteResponse.newBuilder().setDeleted(deleted).build());
    }

    private Future<ListResponse> list(ListRequest req) {
        ListResponse.Builder out = ListResponse.newBuilder();
        for (Map.Entry<ConfigKey, ConfigRecord> e : sink.inForce().records().entrySet()) {
            ConfigRecord r = e.getValue();
            if ((!req.getKind().isEmpty() && !req.getKind().equals(r.getKind()))
                    || (!req.getNamespace().isEmpty() && !req.getNamespace().equals(r.getMetadata().getNamespace()))
                    || !r.getMetadata().getLabelsMap().entrySet().containsAll(req.getLabelSelectorMap().entrySet())) {
                continue;
            }
            out.addRecords(r);
        }
        return Future.succeededFuture(out.build());
    }

    private <Q, R> void unary(GrpcServerRequest<Decoded<Q>, R> call,
            java.util.function.BiFunction<Caller, Q, Future<R>> op) {
        io.vertx.core.Context ctx = vertx.getOrCreateContext();
        call.pause();
        authenticator.authenticate(call.headers().get("authorization")).onComplete(ar -> ctx.runOnContext(v -> {
            if (ar.failed()) {
                boolean refused = ar.cause() instanceof NodeAuthenticator.Unauthenticated;
                call.response().status(refused ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.UNAVAILABLE)
                        .statusMessage(refused ? "authentication failed: " + ar.cause().getMessage()
                                : "token review unavailable").end();
                return;
            }
            Caller caller = ar.result();
            if (!adminIdentities.contains(caller.identity())) {
                call.response().status(GrpcStatus.PERMISSION_DENIED)
                        .statusMessage(caller.identity() + " is not a config admin").end();
                return;
            }
            SingleRequest.read(call, call.methodName() + " request", req -> op.apply(caller, req).onComplete(res -> {
                if (res.succeeded()) {
                    call.response().end(res.result());
                } else if (res.cause() instanceof BadRequest) {
                    call.response().status(GrpcStatus.INVALID_ARGUMENT).statusMessage(res.cause().getMessage()).end();
                } else {
                    log.atWarn().setCause(res.cause()).log("config admin call failed");
                    call.response().status(GrpcStatus.UNAVAILABLE)
                            .statusMessage("config log write failed: " + res.cause().getMessage()).end();
                }
            }));
            call.resume();
        }));
    }

    private static final class BadRequest extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BadRequest(String message) {
            super(message, null, false, false);
        }
    }

}
