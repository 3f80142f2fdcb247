package io.jmesh.policy;

import io.jmesh.core.configlog.ConfigLog;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.identity.BearerTokenFile;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesConnection;
import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.core.tls.Pem;
import io.jmesh.core.grpc.UncompressedCalls;
import io.jmesh.core.tls.PermittedSuites;
import io.jmesh.core.tls.ReloadedFiles;
import io.jmesh.policy.admin.ConfigAdminService;
import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.policy.auth.NodeAuthenticator;
import io.jmesh.policy.auth.TokenReviewAuthenticator;
import io.jmesh.policy.kubernetes.KubernetesSource;
import io.jmesh.policy.kubernetes.LeaderElection;
import io.jmesh.policy.kubernetes.VipStatusWriter;
import io.jmesh.policy.registry.PolicyRegistry;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.source.ConfigApplier;
import io.jmesh.policy.source.ConfigSource;
import io.jmesh.policy.source.DirectorySource;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.tls.ServingPair;
import io.jmesh.policy.xds.AdsMetrics;
import io.jmesh.policy.xds.DeltaAdsServer;
import io.jmesh.policy.xds.XdsConnections;
import io.jmesh.policy.xds.StreamAdmission;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.vertx.core.Future;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpServer;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wires policy together: the config log (writer + materializing registry), the sources (manifest directory,
 * ConfigAdmin API), and delta ADS for ztunnels, on one gRPC/TLS port. Ready once the log has been replayed.
 */
public final class PolicyBootstrap implements MeshService {

    private static final Logger log = LoggerFactory.getLogger(PolicyBootstrap.class);

    private final PolicyConfig config;
    private final ServiceContext context;
    private final Function<GrpcClient, NodeAuthenticator> authenticatorFactory;
    private ConfigLogWriter writer;
    private PolicyRegistry registry;
    private HttpServer server;
    private GrpcClient reviewClient;
    private HttpClientAgent reviewHttp;
    private ReloadedFiles<ServingPair> servingFiles;
    private ReloadedFiles<String> rootFiles;
    private ConfigSource directory;
    private KubernetesSource cluster;
    private VipStatusWriter vipStatus;
    private DeltaAdsServer ads;
    private AdsMetrics adsMetrics;
    private ConfigApplier applier;

    public PolicyBootstrap(PolicyConfig config, ServiceContext context) {
        this(config, context, null);
    }

    /** For embedding: {@code authenticatorFactory} null uses the configured TokenReview. */
    PolicyBootstrap(PolicyConfig config, ServiceContext context,
            Function<GrpcClient, NodeAuthenticator> authenticatorFactory) {
        this.config = config;
        this.context = context;
        this.authenticatorFactory = authenticatorFactory;
    }

    @Override
    public Future<Void> start() {
        var ready = context.readiness().register("config-log-replayed");
        // istiod serves once its informers have synced: ztunnels connecting earlier would get a partial mesh
        var clusterSynced = config.kubernetes().enabled() ? context.readiness().register("kubernetes-synced") : null;
        var vertx = context.vertx();
        return vertx.executeBlocking(() -> {
            PolicyConfig.Kafka k = config.kafka();
            if (ConfigLog.TOPIC.equals(k.topic())) {
                Counter warnings = Counter.builder().name("policy_config_log_warnings_total")
                        .help("problems of an existing config log topic policy does not change itself (fewer replicas"
                                + " than kafka.replicationFactor asks, or 3+ replicas and min.insync.replicas below 2)")
                        .labelNames("reason").register(context.metrics());
                warnings.labelValues("replication_factor");
                warnings.labelValues("min_insync_replicas");
                for (var w : ConfigLog.ensureTopic(k.bootstrapServers(), k.replication(),
                        java.time.Duration.ofSeconds(30))) {
                    warnings.labelValues(w.reason()).inc();
                    log.atWarn().addKeyValue("topic", ConfigLog.TOPIC).addKeyValue("reason", w.reason())
                            .log("{}", w.message());
                }
            }
            writer = new ConfigLogWriter(k.bootstrapServers(), k.topic(), "policy-writer");
            PolicyConfig.Mesh m = config.mesh();
            registry = PolicyRegistry.start(k.bootstrapServers(), k.topic(), "policy",
                    new MeshSettings(m.rootNamespace(), m.trustDomain(), m.clusterId(), m.domainSuffix()),
                    context.metrics());
            applier = new ConfigApplier(new ManifestReader(m.rootNamespace()), writer, registry::snapshot,
                    context.metrics(), Clock.systemUTC());
            PolicyConfig.Kubernetes k8s = config.kubernetes();
            if (k8s.enabled()) {
                // created now so a bad connection setting (an unreadable CA file) fails the start, naming it
                KubernetesApi api = KubernetesApi.create(k8s.connection());
                LeaderElection election = k8s.leaderElection().enabled()
                        ? new LeaderElection(api, electionSettings(k8s.leaderElection()), context.metrics()) : null;
                cluster = new KubernetesSource(api, m.clusterId(), k8s.kinds(), election, context.metrics());
                if (k8s.kinds().contains("ServiceEntry")) {
                    // VIPs allocated to ServiceEntry hosts are kept in the entries' status, as istiod keeps its own
                    vipStatus = new VipStatusWriter(api, cluster, context.metrics());
                    registry.onState(vipStatus::accept);
                }
            }
            return null;
        }).compose(v -> startServer()).onSuccess(v -> registry.ready().whenComplete((state, err) -> {
            if (err != null) {
                log.atError().setCause(err).log("config log replay failed");
                return;
            }
            ready.complete();
            log.atInfo().addKeyValue("addresses", state.addresses().size())
                    .addKeyValue("authorizations", state.authorizations().size()).log("config log replayed");
            if (!config.manifests().dir().isBlank()) {
                directory = new DirectorySource(Path.of(config.manifests().dir()), config.manifests().pollInterval());
                directory.start(applier);
            }
            if (cluster != null) {
                cluster.synced().thenRun(clusterSynced::complete);
                cluster.start(applier);
            }
        }));
    }

    /** The lease's namespace and this replica's identity, defaulted from the pod (see the configuration). */
    static LeaderElection.Settings electionSettings(PolicyConfig.Kubernetes.LeaderElection e) {
        String namespace = e.namespace();
        if (namespace.isEmpty()) {
            Path file = Path.of(KubernetesConnection.SERVICE_ACCOUNT_DIR, "namespace");
            try {
                namespace = Files.readString(file).trim();
            } catch (IOException ex) {
                throw new IllegalArgumentException("kubernetes.leaderElection.namespace: empty and " + file
                        + " cannot be read (" + ex.getMessage() + "; expected: running in a pod, or a namespace)");
            }
        }
        String identity = e.identity();
        if (identity.isEmpty()) {
            identity = System.getenv().getOrDefault("HOSTNAME", "");
        }
        if (identity.isEmpty()) {
            try {
                identity = java.net.InetAddress.getLocalHost().getHostName();
            } catch (IOException ex) {
                throw new IllegalArgumentException("kubernetes.leaderElection.identity: empty, and neither HOSTNAME"
                        + " nor the host's name is known (expected: this replica's unique name)");
            }
        }
        return new LeaderElection.Settings(namespace, e.name(), identity, e.leaseDuration(), e.renewDeadline(),
                e.retryPeriod());
    }

    private Future<Void> startServer() {
        var vertx = context.vertx();
        return vertx.executeBlocking(() -> {
            PolicyConfig.Xds x = config.xds();
            String cert = read(x.certFile(), "xds.certFile");
            String key = read(x.keyFile(), "xds.keyFile");
            ServingPair pair = servingPair(List.of(cert, key));
            NodeAuthenticator authenticator;
            String roots = null;
            if (authenticatorFactory != null) {
                authenticator = authenticatorFactory.apply(null);
            } else {
                PolicyConfig.TokenReview t = config.tokenReview();
                roots = caRoots(List.of(read(t.caFile(), "tokenReview.caFile")));
                reviewHttp = vertx.createHttpClient(GrpcTls.client(roots));
                reviewClient = GrpcClient.client(vertx, reviewHttp);
                // read at each review: a projected ServiceAccount token is rotated by the kubelet and expires
                Supplier<String> token = BearerTokenFile.of(t.tokenFile());
                token.get(); // fails the start, naming the file, when it cannot be read
                authenticator = new TokenReviewAuthenticator(reviewClient,
                        SocketAddress.inetSocketAddress(t.port(), t.host()), token, t.timeout());
            }
            return new ServerParts(pair, roots, authenticator);
        }).compose(parts -> {
            NodeAuthenticator authenticator = parts.authenticator();
            adsMetrics = new AdsMetrics(context.metrics());
            PolicyConfig.Xds.Admission admission = config.xds().admission();
            ads = new DeltaAdsServer(vertx, authenticator, adsMetrics, MeshState.EMPTY,
                    config.xds().maxResourcesPerResponse(), new StreamAdmission(
                            admission.newStreamsPerSecond(Runtime.getRuntime().availableProcessors()),
                            admission.maxSyncingStreams(), admission.maxInitialSync(),
                            admission.maxStreamsPerNode()));
            registry.onState(ads::publish);
            ads.publish(registry.state());
            // a reconnecting ztunnel lists every resource it holds in its first request
            GrpcServer grpc = GrpcServer.server(vertx, DeltaAdsServer.grpcServerOptions());
            ads.bind(grpc);
            new ConfigAdminService(vertx, authenticator, new HashSet<>(config.configAdmin().adminIdentities()),
                    applier).bind(grpc);
            ServingPair pair = parts.pair();
            // AES-GCM as negotiated, not only as offered (BoringSSL always allows ChaCha20 in TLS 1.3); compressed
            // calls refused before Vert.x inflates them without a bound
            return PermittedSuites.serve(vertx.createHttpServer(GrpcTls.server(config.xds().host(),
                    config.xds().port(), pair.chainPem(), pair.keyPem())),
                    UncompressedCalls.only(grpc, UncompressedCalls.counter(context.metrics(), "policy")),
                    XdsConnections.handler(vertx, config.xds(), context.metrics())).listen()
                    .map(s -> {
                        server = s;
                        watchFiles(pair, parts.roots());
                        return s;
                    });
        }).map(s -> {
            log.atInfo().addKeyValue("port", s.actualPort()).log("discovery and config admin listening");
            return null;
        });
    }

    private record ServerParts(ServingPair pair, String roots, NodeAuthenticator authenticator) {}

    /** Re-reads the serving certificate and the CA roots while running (see {@link ReloadedFiles}). */
    private void watchFiles(ServingPair pair, String roots) {
        var vertx = context.vertx();
        PolicyConfig.Xds x = config.xds();
        Counter outcomes = ReloadedFiles.outcomes(context.metrics(), "policy");
        servingFiles = new ReloadedFiles<>(vertx, "serving_certificate",
                List.of(Path.of(x.certFile()), Path.of(x.keyFile())), List.of(pair.chainPem(), pair.keyPem()), pair,
                x.reloadInterval(), outcomes, PolicyBootstrap::servingPair,
                p -> server.updateSSLOptions(GrpcTls.serverUpdate(p.chainPem(), p.keyPem()), true));
        GaugeWithCallback.builder().name("policy_serving_certificate_expiry_seconds")
                .help("Seconds until the certificate policy serves on its gRPC port expires")
                .callback(cb -> cb.call(Duration.between(Instant.now(), servingFiles.current().notAfter()).toSeconds()))
                .register(context.metrics());
        if (roots != null) {
            rootFiles = new ReloadedFiles<>(vertx, "ca_roots", List.of(Path.of(config.tokenReview().caFile())),
                    List.of(roots), roots, x.reloadInterval(), outcomes, PolicyBootstrap::caRoots,
                    r -> reviewHttp.updateSSLOptions(GrpcTls.clientUpdate(r), true));
        }
    }

    private static ServingPair servingPair(List<String> contents) {
        return ServingPair.of(contents.get(0), contents.get(1), "xds.certFile", "xds.keyFile", Instant.now());
    }

    private static String caRoots(List<String> contents) {
        return Pem.checkedRoots("tokenReview.caFile", contents.get(0));
    }

    private static String read(String file, String key) throws java.io.IOException {
        if (file == null || file.isBlank()) {
            throw new IllegalArgumentException(key + ": empty (expected: a PEM file)");
        }
        return Files.readString(Path.of(file));
    }

    /** The bound discovery port (tests). */
    int port() {
        return server.actualPort();
    }

    PolicyRegistry registry() {
        return registry;
    }

    AdsMetrics adsMetrics() {
        return adsMetrics;
    }

    DeltaAdsServer ads() {
        return ads;
    }

    @Override
    public Future<Void> close() {
        if (directory != null) {
            directory.close();
        }
        if (vipStatus != null) {
            vipStatus.close();
        }
        if (cluster != null) {
            cluster.close();
        }
        if (servingFiles != null) {
            servingFiles.close();
        }
        if (rootFiles != null) {
            rootFiles.close();
        }
        if (reviewHttp != null) {
            reviewHttp.close();
        }
        Future<Void> stopped = server == null ? Future.succeededFuture() : server.close();
        return stopped.eventually(() -> context.vertx().executeBlocking(() -> {
            if (registry != null) {
                registry.close();
            }
            if (writer != null) {
                writer.close();
            }
            return null;
        })).mapEmpty();
    }

    io.prometheus.metrics.model.registry.PrometheusRegistry metricsForTest() {
        return context.metrics();
    }

    PolicyConfig config() {
        return config;
    }
}
