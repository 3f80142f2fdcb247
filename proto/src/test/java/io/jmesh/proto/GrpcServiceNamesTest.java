package io.jmesh.proto;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.jmesh.proto.ca.v1.CaAdminGrpcClient;
import io.jmesh.proto.ca.v1.CaAdminGrpcService;
import io.jmesh.proto.ca.v1.TokenReviewGrpcClient;
import io.jmesh.proto.ca.v1.TokenReviewGrpcService;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcClient;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcClient;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcClient;
import io.jmesh.proto.istio.v1.auth.IstioCertificateServiceGrpcService;
import io.jmesh.proto.policy.v1.ConfigAdminGrpcClient;
import io.jmesh.proto.policy.v1.ConfigAdminGrpcService;
import io.vertx.grpc.common.ServiceMethod;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The gRPC paths peers call are part of the wire contract. Referencing the generated Vert.x stub
 * classes here also proves at compile time that the plugin generated them.
 */
class GrpcServiceNamesTest {

    @Test
    void istioCaMethodHasIstiosPath() {
        ServiceDescriptor service = IstioCertificateServiceGrpcService.SERVICE_DESCRIPTOR;
        assertThat(grpcPaths(service)).containsExactly("istio.v1.auth.IstioCertificateService/CreateCertificate");

        assertPath(IstioCertificateServiceGrpcService.CreateCertificate,
                "istio.v1.auth.IstioCertificateService/CreateCertificate");
        assertPath(IstioCertificateServiceGrpcClient.CreateCertificate,
                "istio.v1.auth.IstioCertificateService/CreateCertificate");
        assertThat(IstioCertificateServiceGrpcService.SERVICE_NAME.pathOf("CreateCertificate"))
                .isEqualTo("/istio.v1.auth.IstioCertificateService/CreateCertificate");
        assertThat(service.findMethodByName("CreateCertificate").isClientStreaming()).isFalse();
        assertThat(service.findMethodByName("CreateCertificate").isServerStreaming()).isFalse();
    }

    @Test
    void adsMethodsHaveEnvoysPaths() {
        ServiceDescriptor service = AggregatedDiscoveryServiceGrpcService.SERVICE_DESCRIPTOR;
        assertThat(grpcPaths(service)).containsExactly(
                "envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
                "envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources");

        assertPath(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources,
                "envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources");
        assertPath(AggregatedDiscoveryServiceGrpcClient.DeltaAggregatedResources,
                "envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources");
        MethodDescriptor delta = service.findMethodByName("DeltaAggregatedResources");
        assertThat(delta.isClientStreaming()).isTrue();
        assertThat(delta.isServerStreaming()).isTrue();
        assertThat(delta.getInputType().getFullName()).isEqualTo("envoy.service.discovery.v3.DeltaDiscoveryRequest");
        assertThat(delta.getOutputType().getFullName()).isEqualTo("envoy.service.discovery.v3.DeltaDiscoveryResponse");
    }

    @Test
    void xdsTypeUrlsNameTheUpstreamMessages() {
        assertThat(io.jmesh.proto.istio.workload.Address.getDescriptor().getFullName())
                .isEqualTo("istio.workload.Address");
        assertThat(io.jmesh.proto.istio.security.Authorization.getDescriptor().getFullName())
                .isEqualTo("istio.security.Authorization");
        assertThat(com.google.protobuf.Any.pack(io.jmesh.proto.istio.workload.Address.getDefaultInstance()).getTypeUrl())
                .isEqualTo("type.googleapis.com/istio.workload.Address");
        assertThat(com.google.protobuf.Any.pack(io.jmesh.proto.istio.security.Authorization.getDefaultInstance()).getTypeUrl())
                .isEqualTo("type.googleapis.com/istio.security.Authorization");
    }

    @Test
    void jmeshServicesHaveTheirPaths() {
        assertThat(grpcPaths(TrustBundleServiceGrpcService.SERVICE_DESCRIPTOR))
                .containsExactly("jmesh.ca.v1.TrustBundleService/Watch");
        assertThat(grpcPaths(TokenReviewGrpcService.SERVICE_DESCRIPTOR))
                .containsExactly("jmesh.ca.v1.TokenReview/Review");
        assertThat(grpcPaths(CaAdminGrpcService.SERVICE_DESCRIPTOR)).containsExactly(
                "jmesh.ca.v1.CaAdmin/Revoke",
                "jmesh.ca.v1.CaAdmin/ListRevocations",
                "jmesh.ca.v1.CaAdmin/GetCrl",
                "jmesh.ca.v1.CaAdmin/CreateBootstrapToken",
                "jmesh.ca.v1.CaAdmin/RevokeBootstrapToken",
                "jmesh.ca.v1.CaAdmin/ListBootstrapTokens");
        assertThat(grpcPaths(ConfigAdminGrpcService.SERVICE_DESCRIPTOR)).containsExactly(
                "jmesh.policy.v1.ConfigAdmin/Apply",
                "jmesh.policy.v1.ConfigAdmin/Delete",
                "jmesh.policy.v1.ConfigAdmin/List");

        assertPath(TrustBundleServiceGrpcClient.Watch, "jmesh.ca.v1.TrustBundleService/Watch");
        assertPath(TokenReviewGrpcClient.Review, "jmesh.ca.v1.TokenReview/Review");
        assertPath(CaAdminGrpcClient.Revoke, "jmesh.ca.v1.CaAdmin/Revoke");
        assertPath(ConfigAdminGrpcClient.Apply, "jmesh.policy.v1.ConfigAdmin/Apply");
    }

    private static List<String> grpcPaths(ServiceDescriptor service) {
        return service.getMethods().stream()
                .map(m -> service.getFullName() + "/" + m.getName())
                .collect(Collectors.toList());
    }

    private static void assertPath(ServiceMethod<?, ?> method, String path) {
        assertThat(method.serviceName().fullyQualifiedName() + "/" + method.methodName()).isEqualTo(path);
        assertThat(method.fullMethodName()).isEqualTo(path);
    }
}
