package io.jmesh.ztunnel.identity;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.common.GrpcStatus;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

/**
 * {@link CaClient} over gRPC: {@code istio.v1.auth.IstioCertificateService/CreateCertificate} with
 * {@code ImpersonatedIdentity} metadata, authenticated as the node ({@code authorization: Bearer <token>},
 * {@code clusterid}).
 */
public final class GrpcCaClient implements CaClient {

    private final GrpcClient client;
    private final SocketAddress address;
    private final Supplier<String> token;
    private final String clusterId;

    public GrpcCaClient(GrpcClient client, SocketAddress address, Supplier<String> token, String clusterId) {
        this.client = client;
        this.address = address;
        this.token = token;
        this.clusterId = clusterId;
    }

    @Override
    public Future<List<String>> createCertificate(String csrPem, SpiffeId identity, Duration ttl) {
        IstioCertificateRequest req = IstioCertificateRequest.newBuilder()
                .setCsr(csrPem)
                .setValidityDuration(ttl.toSeconds())
                .setMetadata(Struct.newBuilder().putFields("ImpersonatedIdentity",
                        Value.newBuilder().setStringValue(identity.uri()).build()))
                .build();
        return client.request(address, IstioCertificateServiceGrpcClient.CreateCertificate).compose(call -> {
            String t = token.get();
            if (t != null && !t.isEmpty()) {
                call.headers().set("authorization", "Bearer " + t);
            }
            call.headers().set("clusterid", clusterId);
            call.end(req);
            return call.response().compose(resp -> resp.last().transform(ar -> {
                if (resp.status() != null && resp.status() != GrpcStatus.OK) {
                    return Future.failedFuture("ca answered " + resp.status() + ": " + resp.statusMessage());
                }
                if (ar.failed()) {
                    return Future.failedFuture(ar.cause());
                }
                IstioCertificateResponse r = ar.result();
                if (r.getCertChainCount() == 0) {
                    return Future.failedFuture("ca answered an empty cert_chain");
                }
                return Future.succeededFuture(List.copyOf(r.getCertChainList()));
            }));
        });
    }

}
