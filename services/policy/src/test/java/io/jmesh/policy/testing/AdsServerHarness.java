package io.jmesh.policy.testing;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.PolicyConfig;
import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.policy.auth.TokenReviewAuthenticator;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.policy.xds.AdsMetrics;
import io.jmesh.policy.xds.DeltaAdsServer;
import io.jmesh.policy.xds.StreamAdmission;
import io.jmesh.policy.xds.XdsConnections;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * policy's real delta ADS server ({@link DeltaAdsServer}, gRPC over TLS with {@link TestPki}'s certificate,
 * streams authenticated through {@link TokenReviewAuthenticator} against a {@link FakeTokenReview}) serving states
 * that the real {@link MeshStateBuilder} builds from config records, as a replica does after reading them from
 * the config log, but without Kafka: the records are handed over directly ({@link #apply}, {@link #delete}).
 *
 * <p>{@link #start} is a replica starting: a new {@link DeltaAdsServer} with fresh metrics serving the current
 * state; {@link #stop} is that replica going away (its listener and every connection closed). The records and the
 * builder survive, so a restarted replica serves what the log holds, as a real one after its replay.
 *
 * <p>Every subscription the server sees is kept ({@link #subscriptions()}) with the client's
 * {@code initial_resource_versions}. Methods are called from the test thread.
 */
public final class AdsServerHarness implements AutoCloseable {

    /** One subscription to a type, as the server saw it. */
    public record Subscription(String node, String typeUrl, Map<String, String> initialResourceVersions) {}

    private final Vertx vertx;
    private final TestPki pki;
    private final int maxResourcesPerResponse;
    private final GrpcClient reviewClient;
    private final TokenReviewAuthenticator authenticator;
    private final MeshStateBuilder builder = new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local",
            "Kubernetes", "cluster.local"));
    private final TreeMap<ConfigKey, ConfigRecord> records = new TreeMap<>();
    private final List<MeshState.Skipped> skipped = new CopyOnWriteArrayList<>();
    private final List<Subscription> subscriptions = new CopyOnWriteArrayList<>();
    private Supplier<StreamAdmission> admission = StreamAdmission::unlimited;
    private PolicyConfig.Xds connections;
    private MeshState state = MeshState.EMPTY;
    private DeltaAdsServer server;
    private PrometheusRegistry registry;
    private HttpServer http;

    /** A replica on {@code vertx} (stopped) reviewing tokens with {@code tokenReview}. */
    public AdsServerHarness(Vertx vertx, TestPki pki, FakeTokenReview tokenReview, int maxResourcesPerResponse) {
        this.vertx = vertx;
        this.pki = pki;
        this.maxResourcesPerResponse = maxResourcesPerResponse;
        this.reviewClient = GrpcClient.client(vertx, GrpcTls.client(pki.roots));
        this.authenticator = new TokenReviewAuthenticator(reviewClient,
                SocketAddress.inetSocketAddress(tokenReview.port(), "127.0.0.1"), () -> "", Duration.ofSeconds(10));
    }

    /** Replicas started from now on admit new streams as a fresh {@code admission} says (default: unlimited). */
    public AdsServerHarness admitting(Supplier<StreamAdmission> admission) {
        this.admission = admission;
        return this;
    }

    /**
     * Replicas started from now on treat each connection as policy's gRPC port does with {@code xds}'s keepalive
     * and maximum age ({@link XdsConnections}; default: neither).
     */
    public AdsServerHarness connections(PolicyConfig.Xds xds) {
        this.connections = xds;
        return this;
    }

    /** Creates or replaces {@code changed} (by kind/namespace/name), builds the next state and publishes it. */
    public MeshState apply(Collection<ConfigRecord> changed) {
        changed.forEach(r -> records.put(ConfigKey.of(r), r));
        return rebuild();
    }

    /** Deletes {@code keys}, builds the next state and publishes it. */
    public MeshState delete(Collection<ConfigKey> keys) {
        keys.forEach(records::remove);
        return rebuild();
    }

    private MeshState rebuild() {
        state = builder.build(new ConfigSnapshot(records, Map.of()), skipped::add);
        state.prepareIpIndex(); // as the registry does before publishing
        if (server != null) {
            server.publish(state);
        }
        return state;
    }

    /** The newest state. */
    public MeshState state() {
        return state;
    }

    /** Records the builder could not translate (none, for valid input). */
    public List<MeshState.Skipped> skipped() {
        return skipped;
    }

    /** Starts a replica on 127.0.0.1:{@code port} (0: ephemeral) serving the current state; returns the port. */
    public int start(int port) throws Exception {
        if (http != null) {
            throw new IllegalStateException("already serving on " + http.actualPort());
        }
        registry = new PrometheusRegistry();
        AdsMetrics metrics = new AdsMetrics(registry);
        metrics.onSubscribe((node, type, initial) -> subscriptions.add(new Subscription(node, type, initial)));
        server = new DeltaAdsServer(vertx, authenticator, metrics, state, maxResourcesPerResponse, admission.get());
        GrpcServer grpc = GrpcServer.server(vertx, DeltaAdsServer.grpcServerOptions());
        server.bind(grpc);
        HttpServer created = vertx.createHttpServer(GrpcTls.server("127.0.0.1", port, pki.cert(), pki.key()));
        if (connections != null) {
            created.connectionHandler(XdsConnections.handler(vertx, connections, registry));
        }
        http = created.requestHandler(grpc).listen().toCompletionStage().toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        return http.actualPort();
    }

    /** The port the running replica listens on. */
    public int port() {
        return http.actualPort();
    }

    /** Stops the replica: closes its listener and every connection (streams end). */
    public void stop() throws Exception {
        if (http != null) {
            http.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            http = null;
            server = null;
        }
    }

    /** Streams the running replica serves (0 when stopped). */
    public int streams() {
        return server == null ? 0 : server.streamCount();
    }

    /** Every subscription seen, by every replica started, in order. */
    public List<Subscription> subscriptions() {
        return subscriptions;
    }

    /**
     * The current (or last) replica's counter {@code name} (without {@code _total}), summed over the samples whose
     * labels include {@code labels} (name, value, name, value, ...). Each replica counts from zero.
     */
    public double counter(String name, String... labels) {
        if (registry == null) {
            return 0;
        }
        double sum = 0;
        for (var m : registry.scrape()) {
            if (!m.getMetadata().getName().equals(name) || !(m instanceof CounterSnapshot c)) {
                continue;
            }
            for (var d : c.getDataPoints()) {
                boolean match = true;
                for (int i = 0; i + 1 < labels.length; i += 2) {
                    match &= labels[i + 1].equals(d.getLabels().get(labels[i]));
                }
                if (match) {
                    sum += d.getValue();
                }
            }
        }
        return sum;
    }

    /** The current (or last) replica's gauge {@code name} (unlabelled); 0 before the first start. */
    public double gauge(String name) {
        if (registry == null) {
            return 0;
        }
        for (var m : registry.scrape()) {
            if (m.getMetadata().getName().equals(name) && m instanceof GaugeSnapshot g) {
                return g.getDataPoints().isEmpty() ? 0 : g.getDataPoints().get(0).getValue();
            }
        }
        throw new IllegalArgumentException("no gauge " + name);
    }

    @Override
    public void close() throws Exception {
        stop();
        reviewClient.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
