package io.jmesh.ca.issuance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.v1.auth.IstioCertificateRequest;
import io.jmesh.proto.istio.v1.auth.IstioCertificateResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An independent gRPC implementation (grpc-java over its own shaded Netty and TLS) calls CreateCertificate the
 * way Istio's agents do: path {@code /istio.v1.auth.IstioCertificateService/CreateCertificate} written out by
 * hand, bearer token in metadata, ImpersonatedIdentity in the Struct.
 */
@Timeout(60)
class GrpcJavaWireCompatTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().place("node-a", SpiffeId.parse(SLEEP)).build();

    static final MethodDescriptor<IstioCertificateRequest, IstioCertificateResponse> CREATE_CERTIFICATE =
            MethodDescriptor.<IstioCertificateRequest, IstioCertificateResponse>newBuilder()
                    .setType(MethodDescriptor.MethodType.UNARY)
                    .setFullMethodName("istio.v1.auth.IstioCertificateService/CreateCertificate")
                    .setRequestMarshaller(marshaller(IstioCertificateRequest.parser()))
                    .setResponseMarshaller(marshaller(IstioCertificateResponse.parser()))
                    .build();

    static ManagedChannel channel;

    @BeforeAll
    static void connect() throws IOException {
        TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder()
                .trustManager(new ByteArrayInputStream(ca.rootsPem().getBytes(StandardCharsets.US_ASCII)));
        channel = Grpc.newChannelBuilderForAddress("127.0.0.1", ca.port(), tls.build()).build();
    }

    @AfterAll
    static void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }

    private static IstioCertificateResponse call(String token, IstioCertificateRequest request) {
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        md.put(Metadata.Key.of("clusterid", Metadata.ASCII_STRING_MARSHALLER), "Kubernetes");
        return ClientCalls.blockingUnaryCall(
                io.grpc.ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(md)),
                CREATE_CERTIFICATE, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), request);
    }

    private static IstioCertificateRequest request(String csr, String impersonated) {
        return IstioCertificateRequest.newBuilder().setCsr(csr).setValidityDuration(86_400)
                .setMetadata(Struct.newBuilder().putFields("ImpersonatedIdentity",
                        Value.newBuilder().setStringValue(impersonated).build())).build();
    }

    @Test
    void grpcJavaClientObtainsACertificate() throws Exception {
        TestCsrs.Csr csr = TestCsrs.forIdentity(SLEEP);
        IstioCertificateResponse resp = call(ca.nodeToken("node-a"), request(csr.pem(), SLEEP));
        X509Certificate leaf = Pem.certificate(resp.getCertChain(0));
        assertThat(Certificates.uriSans(leaf)).containsExactly(SLEEP);
        assertThat(leaf.getPublicKey()).isEqualTo(csr.keyPair().getPublic());
        Certificates.verifyChain(List.of(leaf), Pem.certificates(resp.getCertChain(resp.getCertChainCount() - 1)),
                new Date());
    }

    @Test
    void grpcJavaClientSeesTheExactStatusAndMessage() {
        String csr = TestCsrs.csr(List.of(SLEEP), List.of("sleep.default.svc"));
        assertThatThrownBy(() -> call(ca.nodeToken("node-a"), request(csr, SLEEP)))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).isEqualTo("csr: subjectAltName has a DNS name"
                            + " 'sleep.default.svc' (expected: exactly one URI SAN, no others)");
                });
        assertThatThrownBy(() -> call("jmesh.0000000000000000.x", request(csr, SLEEP)))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    }

    private static <T extends MessageLite> MethodDescriptor.Marshaller<T> marshaller(Parser<T> parser) {
        return new MethodDescriptor.Marshaller<>() {
            @Override
            public InputStream stream(T value) {
                return value.toByteString().newInput();
            }

            @Override
            public T parse(InputStream stream) {
                try {
                    return parser.parseFrom(stream);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }
}
