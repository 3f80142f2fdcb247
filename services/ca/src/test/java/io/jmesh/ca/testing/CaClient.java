package io.jmesh.ca.testing;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.proto.ca.v1.TokenReviewGrpcClient;
import io.jmesh.proto.ca.v1.TokenReviewRequest;
import io.jmesh.proto.ca.v1.TokenReviewResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.grpc.client.GrpcClientResponse;
import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcClient;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;

/**
 * A small client of the CA for tests, over real TLS (trusting the CA's roots, verifying the host name) and
 * HTTP/2: {@code CreateCertificate} with a bearer token and optional {@code ImpersonatedIdentity}, and
 * {@code TokenReview}. A non-OK status fails the future with {@link CaCallException}.
 */
public final class CaClient implements AutoCloseable {

    private final GrpcClient client;
    private final SocketAddress address;

    public CaClient(Vertx vertx, SocketAddress address, String rootsPem) {
        this.address = address;
        HttpClientOptions http = new HttpClientOptions().setSsl(true).setUseAlpn(true)
                .setProtocolVersion(HttpVersion.HTTP_2).setVerifyHost(true)
                .setHttp2MultiplexingLimit(1000)
                .setTrustOptions(new PemTrustOptions().addCertValue(Buffer.buffer(rootsPem)));
        this.client = GrpcClient.client(vertx, http);
    }

    /** Asks for a certificate for {@code csrPem}; {@code impersonated} may be null. */
    public Future<IstioCertificateResponse> createCertificate(String token, String csrPem, long validitySeconds,
            String impersonated) {
        IstioCertificateRequest.Builder b = IstioCertificateRequest.newBuilder().setCsr(csrPem)
                .setValidityDuration(validitySeconds);
        if (impersonated != null) {
            b.setMetadata(Struct.newBuilder().putFields("ImpersonatedIdentity",
                    Value.newBuilder().setStringValue(impersonated).build()));
        }
        return createCertificate(token, b.build());
    }

    public Future<IstioCertificateResponse> createCertificate(String token, IstioCertificateRequest request) {
        return call(IstioCertificateServiceGrpcClient.CreateCertificate, token, request);
    }

    /**
     * CreateCertificate with exactly {@code messages} on the request stream (none, or several), as a faulty or
     * hostile client could send them; a unary call normally carries exactly one.
     */
    public Future<IstioCertificateResponse> createCertificateMessages(String token,
            java.util.List<IstioCertificateRequest> messages) {
        return client.request(address, IstioCertificateServiceGrpcClient.CreateCertificate).compose(call -> {
            if (token != null) {
                call.headers().set("authorization", "Bearer " + token);
            }
            messages.forEach(call::write);
            call.end();
            return call.response();
        }).compose(CaClient::answer);
    }

    /** CreateCertificate with its message gzip-compressed ({@code grpc-encoding: gzip}). */
    public Future<IstioCertificateResponse> createCertificateCompressed(String token, IstioCertificateRequest request) {
        return client.request(address, IstioCertificateServiceGrpcClient.CreateCertificate).compose(call -> {
            call.headers().set("authorization", "Bearer " + token);
            call.encoding("gzip");
            call.end(request);
            return call.response();
        }).compose(CaClient::answer);
    }

    /** CreateCertificate whose one message is {@code raw} (bytes that need not be an IstioCertificateRequest). */
    public Future<IstioCertificateResponse> createCertificateRaw(String token, Buffer raw) {
        return client.request(address).compose(call -> {
            call.fullMethodName("istio.v1.auth.IstioCertificateService/CreateCertificate");
            call.headers().set("authorization", "Bearer " + token);
            call.writeMessage(io.vertx.grpc.common.GrpcMessage.message("identity", raw));
            call.end();
            return call.response();
        }).compose(resp -> resp.end().transform(ar -> resp.status() != null && resp.status() != GrpcStatus.OK
                ? Future.failedFuture(new CaCallException(resp.status(), resp.statusMessage()))
                : Future.succeededFuture(IstioCertificateResponse.getDefaultInstance())));
    }

    /** Reviews {@code reviewed} as the service holding {@code serviceToken}. */
    public Future<TokenReviewResponse> review(String serviceToken, String reviewed) {
        return call(TokenReviewGrpcClient.Review, serviceToken,
                TokenReviewRequest.newBuilder().setToken(reviewed).build());
    }

    /**
     * Follows the trust bundle: {@code onBundle} gets every bundle the CA sends (on the client's event loop) until
     * the returned stream is cancelled ({@code response.request().cancel()}) or the CA ends it.
     */
    public Future<GrpcClientResponse<WatchTrustBundleRequest, TrustBundle>> watchTrustBundle(long knownVersion,
            Handler<TrustBundle> onBundle) {
        return client.request(address, TrustBundleServiceGrpcClient.Watch).compose(call -> {
            call.end(WatchTrustBundleRequest.newBuilder().setKnownVersion(knownVersion).build());
            return call.response();
        }).map(resp -> {
            resp.handler(onBundle);
            return resp;
        });
    }

    /** As {@link #watchTrustBundle}, answering the request so the caller can cancel the stream. */
    public Future<io.vertx.grpc.client.GrpcClientRequest<WatchTrustBundleRequest, TrustBundle>> watchTrustBundleCall(
            long knownVersion, Handler<TrustBundle> onBundle) {
        return client.request(address, TrustBundleServiceGrpcClient.Watch).compose(call -> {
            call.end(WatchTrustBundleRequest.newBuilder().setKnownVersion(knownVersion).build());
            return call.response().map(resp -> {
                resp.handler(onBundle);
                return call;
            });
        });
    }

    /** Any unary method of the CA (e.g. {@code CaAdminGrpcClient.Revoke}) with a bearer token. */
    public <Req, Resp> Future<Resp> call(ServiceMethod<Resp, Req> method, String token, Req request) {
        return client.request(address, method).compose(call -> {
            if (token != null) {
                call.headers().set("authorization", "Bearer " + token);
            }
            call.end(request);
            return call.response();
        }).compose(CaClient::answer);
    }

    /** The call's one answer; a non-OK status fails it with {@link CaCallException}. */
    private static <Req, Resp> Future<Resp> answer(GrpcClientResponse<Req, Resp> resp) {
        return resp.last().transform(ar -> {
            if (resp.status() != null && resp.status() != GrpcStatus.OK) {
                return Future.failedFuture(new CaCallException(resp.status(), resp.statusMessage()));
            }
            return ar.succeeded() ? Future.succeededFuture(ar.result()) : Future.failedFuture(ar.cause());
        });
    }

    @Override
    public void close() {
        client.close();
    }

}
