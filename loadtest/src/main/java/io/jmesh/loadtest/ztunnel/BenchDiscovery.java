package io.jmesh.loadtest.ztunnel;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.vertx.grpc.server.GrpcServer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Policy's delta ADS as the benchmark's ztunnels meet it when they run as deployed: the same mesh file the static
 * mode reads ({@link StaticConfigFile}, so both modes see identical workloads), served once per subscribed type on
 * the bench CA's TLS server. What is measured is ztunnel's side, which is policy's real client: its TLS connection,
 * its gRPC stream, its PINGs and the resources it holds. Later pushes are not simulated (the {@code policy-push}
 * benchmark measures policy itself).
 */
final class BenchDiscovery {

    private final Path meshFile;
    private final AtomicLong nonces = new AtomicLong();
    /** Rejections the ztunnels sent back (a NACK's type and message): a benchmark with any is misconfigured. */
    final ConcurrentLinkedQueue<String> nacks = new ConcurrentLinkedQueue<>();

    BenchDiscovery(Path meshFile) {
        this.meshFile = meshFile;
    }

    /** Adds {@code DeltaAggregatedResources} to {@code grpc}. */
    void register(GrpcServer grpc) {
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> call.handler(req -> {
            if (!req.getResponseNonce().isEmpty()) {
                if (req.hasErrorDetail()) {
                    nacks.add(req.getTypeUrl() + ": " + req.getErrorDetail().getMessage());
                }
                return; // an ACK (or NACK) of what was sent
            }
            List<Resource> resources = resources(req);
            if (resources != null) {
                call.response().write(DeltaDiscoveryResponse.newBuilder().setTypeUrl(req.getTypeUrl())
                        .setNonce(Long.toString(nonces.incrementAndGet())).addAllResources(resources).build());
            }
        }));
    }

    /** Everything of the request's type (read from the file now, so a scenario may rewrite it); null: unserved. */
    private List<Resource> resources(DeltaDiscoveryRequest req) {
        StaticConfigFile.Contents mesh = StaticConfigFile.read(meshFile);
        List<Resource> out = new ArrayList<>();
        if (XdsTypes.ADDRESS.equals(req.getTypeUrl())) {
            for (Map.Entry<String, ? extends Message> e : mesh.addresses().entrySet()) {
                out.add(resource(e.getKey(), req.getTypeUrl(), e.getValue()));
            }
        } else if (XdsTypes.AUTHORIZATION.equals(req.getTypeUrl())) {
            for (var a : mesh.authorizations()) {
                out.add(resource(a.getNamespace() + "/" + a.getName(), req.getTypeUrl(), a));
            }
        } else {
            return null;
        }
        return out;
    }

    private static Resource resource(String name, String typeUrl, Message body) {
        return Resource.newBuilder().setName(name).setVersion("1")
                .setResource(Any.newBuilder().setTypeUrl(typeUrl).setValue(body.toByteString())).build();
    }
}
