package io.jmesh.ca.server;

import io.jmesh.ca.CaConfig;
import io.jmesh.core.grpc.ServerConnections;
import io.jmesh.core.grpc.UncompressedCalls;
import io.jmesh.core.tls.PermittedSuites;
import io.prometheus.metrics.core.metrics.Counter;
import io.jmesh.core.tls.TlsPolicy;
import io.vertx.core.AbstractVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.ServerSSLOptions;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The CA's gRPC listener: TLS 1.3 only, AES-GCM suites (a connection that negotiated another suite is closed
 * unserved), ALPN {@code h2} ({@link TlsPolicy}), one HTTP server per
 * event loop on the same port, each with its own {@link GrpcServer} to which {@code services} binds the
 * endpoints. No client certificate is asked for: callers authenticate with bearer tokens.
 *
 * <p>Each connection is PINGed ({@code grpc.keepalive*}) and sent GOAWAY at {@code grpc.maxConnectionAge}, as
 * istiod's gRPC server.
 *
 * <p>The serving certificate can be replaced while running ({@link #updateCertificate}); existing connections
 * keep theirs.
 */
public final class CaGrpcServer {

    private final Vertx vertx;
    private final List<String> deployments;
    private final List<HttpServer> servers;
    private final int port;

    private CaGrpcServer(Vertx vertx, List<String> deployments, List<HttpServer> servers, int port) {
        this.vertx = vertx;
        this.deployments = deployments;
        this.servers = servers;
        this.port = port;
    }

    /**
     * Starts {@code grpc.effectiveEventLoops()} servers in one deployment, so Vert.x shares one listening socket
     * among their event loops (also with port 0: the instances share the ephemeral port).
     */
    public static Future<CaGrpcServer> start(Vertx vertx, CaConfig.Grpc config, ServingCertificate cert,
            Counter refused, Counter keepaliveTimeouts, Consumer<GrpcServer> services) {
        List<HttpServer> servers = new CopyOnWriteArrayList<>();
        // one for every instance: its timers are Vert.x's, its state per connection
        ServerConnections connections = new ServerConnections(vertx, config.keepalive(), keepaliveTimeouts,
                config.maxConnectionAge(), config.maxConnectionAgeGrace());
        return vertx.deployVerticle(() -> new AbstractVerticle() {
            @Override
            public void start(Promise<Void> started) {
                GrpcServer grpc = GrpcServer.server(vertx,
                        new GrpcServerOptions().setMaxMessageSize(config.maxRequestBytes()));
                services.accept(grpc);
                // AES-GCM as negotiated; compressed calls refused before Vert.x inflates them without a bound
                PermittedSuites.serve(vertx.createHttpServer(options(config, config.port(), cert)),
                                UncompressedCalls.only(grpc, refused), connections)
                        .listen()
                        .onSuccess(s -> {
                            servers.add(s);
                            started.complete();
                        })
                        .onFailure(started::fail);
            }
        }, new DeploymentOptions().setInstances(config.effectiveEventLoops()))
                .map(id -> new CaGrpcServer(vertx, List.of(id), servers, servers.get(0).actualPort()));
    }

    static HttpServerOptions options(CaConfig.Grpc config, int port, ServingCertificate cert) {
        HttpServerOptions o = new HttpServerOptions().setHost(config.host()).setPort(port)
                .setSsl(true).setUseAlpn(true)
                .setKeyCertOptions(keyCert(cert))
                .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(config.maxConcurrentStreams()));
        return TlsPolicy.apply(o);
    }

    private static PemKeyCertOptions keyCert(ServingCertificate cert) {
        return new PemKeyCertOptions().addKeyValue(Buffer.buffer(cert.keyPem()))
                .addCertValue(Buffer.buffer(cert.chainPem()));
    }

    /** The port every instance listens on. */
    public int port() {
        return port;
    }

    /** Serves {@code cert} to new connections. */
    public Future<Void> updateCertificate(ServingCertificate cert) {
        List<Future<Boolean>> updates = new ArrayList<>();
        for (HttpServer s : servers) {
            ServerSSLOptions ssl = TlsPolicy.apply(new ServerSSLOptions().setKeyCertOptions(keyCert(cert))
                    .setUseAlpn(true));
            updates.add(s.updateSSLOptions(ssl, true));
        }
        return Future.all(updates).mapEmpty();
    }

    /** Closes every listener (open connections included). */
    public Future<Void> close() {
        List<Future<Void>> undeploys = new ArrayList<>();
        deployments.forEach(d -> undeploys.add(vertx.undeploy(d)));
        return Future.join(undeploys).mapEmpty();
    }
}
