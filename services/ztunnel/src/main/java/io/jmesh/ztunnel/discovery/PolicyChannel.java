package io.jmesh.ztunnel.discovery;

import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.tls.Pem;
import io.jmesh.core.tls.ReloadedFiles;
import io.jmesh.core.tls.TlsPolicy;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.ClientSSLOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The gRPC client ztunnel reaches policy with. Over TLS it verifies policy against {@code discovery.rootCertFile},
 * read again every {@code discovery.rootCertReloadInterval} ({@link ReloadedFiles}): when policy's certificate
 * moves to a new root and the mounted file gains it, the next connection verifies without a restart, while the
 * connection already open keeps its session.
 */
public final class PolicyChannel implements AutoCloseable {

    /**
     * Largest discovery response accepted, as Istio's ztunnel ({@code max_decoding_message_size}, 200 MiB): istiod
     * sends the whole mesh in one response. gRPC's default (256 KiB) failed every such response, the stream with it,
     * and again on each reconnect, so the node never synced.
     */
    static final long MAX_RESPONSE_BYTES = 200L * 1024 * 1024;

    /** The options of every gRPC client to policy. */
    static GrpcClientOptions grpcOptions() {
        return new GrpcClientOptions().setMaxMessageSize(MAX_RESPONSE_BYTES);
    }

    /**
     * A gRPC client over {@code http} with {@link #grpcOptions} (Vert.x has no public factory taking both; the client
     * does not close {@code http}, as {@code GrpcClient.client(vertx, http)}).
     */
    private static GrpcClient grpc(Vertx vertx, HttpClientAgent http) {
        return new io.vertx.grpc.client.impl.GrpcClientImpl(vertx, grpcOptions(), http, false) {};
    }

    private final HttpClientAgent http;
    private final GrpcClient grpc;
    private final ReloadedFiles<String> roots;

    private PolicyChannel(HttpClientAgent http, GrpcClient grpc, ReloadedFiles<String> roots) {
        this.http = http;
        this.grpc = grpc;
        this.roots = roots;
    }

    /**
     * {@link #open(Vertx, ZtunnelConfig.Discovery, PrometheusRegistry, Counter)} registering
     * {@code ztunnel_grpc_keepalive_timeouts_total} in {@code metrics}.
     */
    public static PolicyChannel open(Vertx vertx, ZtunnelConfig.Discovery d, PrometheusRegistry metrics)
            throws IOException {
        return open(vertx, d, metrics, Http2Liveness.counter(metrics, "ztunnel"));
    }

    /**
     * Reads the roots (blocking: call off the event loop); an empty {@code rootCertFile} means plaintext. Each
     * connection is PINGed as {@code discovery.keepalive*} say, and dropped when policy stops answering
     * ({@code keepaliveTimeouts}, peer {@code policy}).
     */
    public static PolicyChannel open(Vertx vertx, ZtunnelConfig.Discovery d, PrometheusRegistry metrics,
            Counter keepaliveTimeouts) throws IOException {
        Http2Liveness liveness = new Http2Liveness(vertx, d.keepalive(), "policy", keepaliveTimeouts);
        String file = d.rootCertFile();
        if (file.isEmpty()) {
            HttpClientAgent http = Http2Liveness.client(vertx, options(null), liveness);
            return new PolicyChannel(http, grpc(vertx, http), null);
        }
        String pem;
        try {
            pem = roots(List.of(Files.readString(Path.of(file))));
        } catch (IOException e) {
            throw new IOException("discovery.rootCertFile: cannot read " + file + " (" + e + ")", e);
        }
        HttpClientAgent http = Http2Liveness.client(vertx, options(pem), liveness);
        ReloadedFiles<String> watch = new ReloadedFiles<>(vertx, "discovery_roots", List.of(Path.of(file)),
                List.of(pem), pem, d.rootCertReloadInterval(), ReloadedFiles.outcomes(metrics, "ztunnel"),
                PolicyChannel::roots, r -> http.updateSSLOptions(sslUpdate(r), true));
        return new PolicyChannel(http, grpc(vertx, http), watch);
    }

    public GrpcClient grpc() {
        return grpc;
    }

    /** The roots in force (null in plaintext). */
    public String roots() {
        return roots == null ? null : roots.current();
    }

    /**
     * Options for policy's client: TLS trusting {@code rootsPem}, or plaintext HTTP/2 for {@code null} (tests only).
     */
    static HttpClientOptions options(String rootsPem) {
        // gRPC is HTTP/2: over TLS negotiated with ALPN, in plaintext with prior knowledge (not an HTTP/1.1 upgrade,
        // over which the stream's responses never reach the client)
        HttpClientOptions o = new HttpClientOptions().setHttp2KeepAliveTimeout(30)
                .setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false);
        if (rootsPem != null) {
            TlsPolicy.apply(o.setSsl(true).setUseAlpn(true).setVerifyHost(true).setTrustOptions(trust(rootsPem)));
        }
        return o;
    }

    private static ClientSSLOptions sslUpdate(String rootsPem) {
        return TlsPolicy.apply(new ClientSSLOptions().setTrustOptions(trust(rootsPem))
                .setHostnameVerificationAlgorithm("HTTPS").setUseAlpn(true)
                .setApplicationLayerProtocols(List.of(HttpVersion.HTTP_2.alpnName())));
    }

    private static PemTrustOptions trust(String rootsPem) {
        return new PemTrustOptions().addCertValue(Buffer.buffer(rootsPem));
    }

    private static String roots(List<String> contents) {
        return Pem.checkedRoots("discovery.rootCertFile", contents.get(0));
    }

    @Override
    public void close() {
        if (roots != null) {
            roots.close();
        }
        http.close();
    }
}
