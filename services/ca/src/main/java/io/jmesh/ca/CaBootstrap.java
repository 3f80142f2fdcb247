package io.jmesh.ca;

import io.jmesh.ca.auth.BootstrapTokens;
import io.jmesh.ca.auth.TokenReviewEndpoint;
import io.jmesh.ca.auth.TokenReviewer;
import io.jmesh.ca.issuance.CaMetrics;
import io.jmesh.ca.issuance.CertificateIssuer;
import io.jmesh.ca.issuance.IssuanceAudit;
import io.jmesh.ca.issuance.IstioCertificateEndpoint;
import io.jmesh.ca.issuance.SigningPool;
import io.jmesh.ca.kubernetes.KubernetesSettings;
import io.jmesh.ca.kubernetes.KubernetesTokenReviewer;
import io.jmesh.ca.kubernetes.RootCertConfigMap;
import io.jmesh.ca.kubernetes.SecretRootStore;
import io.jmesh.ca.kubernetes.ServingSecrets;
import io.jmesh.ca.placement.ConfigLogPlacement;
import io.jmesh.ca.placement.NoPlacement;
import io.jmesh.ca.placement.PlacementSource;
import io.jmesh.ca.revocation.CaAdminEndpoint;
import io.jmesh.ca.revocation.CrlSigner;
import io.jmesh.ca.revocation.IssuanceJournal;
import io.jmesh.ca.revocation.RevocationSender;
import io.jmesh.ca.revocation.RevocationStore;
import io.jmesh.ca.revocation.RevocationTopic;
import io.jmesh.ca.revocation.Revocations;
import io.jmesh.ca.root.AuthoritySource;
import io.jmesh.ca.root.CaAuthority;
import io.jmesh.ca.root.LocalRoots;
import io.jmesh.ca.root.PluginCa;
import io.jmesh.ca.root.StateDirectory;
import io.jmesh.ca.root.TrustBundleState;
import io.jmesh.ca.server.CaGrpcServer;
import io.jmesh.ca.server.ServingCertificate;
import io.jmesh.ca.signing.CsrValidator;
import io.jmesh.ca.signing.LeafSigner;
import io.jmesh.ca.trust.TrustBundleEndpoint;
import io.jmesh.core.admin.AdminServer;
import io.jmesh.core.admin.Readiness;
import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.grpc.UncompressedCalls;
import io.jmesh.core.kafka.EventPublisher;
import io.prometheus.metrics.core.metrics.Counter;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.core.tls.TlsPolicy;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wires ca together: the state directory and root of trust, bootstrap tokens, placement, the signing pool and the
 * gRPC endpoints (Istio's CreateCertificate, TrustBundleService, TokenReview), and a periodic check of the state
 * directory that picks up root rotations, plug-in CA changes and tokens written by the CLI or another replica.
 *
 * <p>Startup work that blocks (files, key generation) runs in {@code executeBlocking}; the event loops only serve.
 */
public final class CaBootstrap implements MeshService {

    private static final Logger log = LoggerFactory.getLogger(CaBootstrap.class);
    private static final Duration JOURNAL_PRUNE_INTERVAL = Duration.ofHours(1);
    private static final Duration REVOCATION_TOPIC_RETRY = Duration.ofSeconds(10);

    /**
     * What tests (and embedding tools) may replace.
     *
     * @param clock the CA's clock
     * @param placement a placement source to use instead of the one {@code placement.source} configures; null
     *     means the configured one
     */
    public record Collaborators(Clock clock, PlacementSource placement) {
        public Collaborators {
            Objects.requireNonNull(clock, "clock");
        }

        public static Collaborators defaults() {
            return new Collaborators(Clock.systemUTC(), null);
        }
    }

    private final CaConfig config;
    private final ServiceContext context;
    private final Collaborators collaborators;
    private final Clock clock;
    private final String replica;
    private final AtomicReference<CaAuthority> authority = new AtomicReference<>();
    private final TrustBundleState trustBundle;
    private final Readiness.Task authorityReady;
    private final Readiness.Task placementReady;
    private final Readiness.Task grpcReady;
    private final AtomicBoolean reloading = new AtomicBoolean();

    private StateDirectory state;
    private AuthoritySource source;
    private String sourceStamp;
    private String failedStamp;
    private BootstrapTokens tokens;
    private TokenReviewer reviewer;
    private RootCertConfigMap rootConfigMap;
    private String publishedRoots;
    private ServingSecrets servingSecrets;
    private Instant nextServingSecretsCheck = Instant.MIN;
    private IssuanceJournal journal;
    private Instant nextJournalPrune = Instant.MIN;
    private volatile Revocations revocations;
    private volatile ServingCertificate serving;
    private EventPublisher publisher;
    private RevocationSender revocationSender;
    private Counter revocationTopicFailures;
    private Counter revocationTopicWarnings;
    private PlacementSource placement;
    private SigningPool pool;
    private IstioCertificateEndpoint certificates;
    private TrustBundleEndpoint trustEndpoint;
    private CaGrpcServer server;
    private long reloadTimer = -1;
    private volatile boolean closing;

    public CaBootstrap(CaConfig config, ServiceContext context) {
        this(config, context, Collaborators.defaults());
    }

    public CaBootstrap(CaConfig config, ServiceContext context, Collaborators collaborators) {
        this.config = config;
        this.context = context;
        this.collaborators = collaborators;
        this.clock = collaborators.clock();
        this.replica = config.replicaName();
        this.trustBundle = new TrustBundleState(config.trustDomain(), clock);
        this.authorityReady = context.readiness().register("root-of-trust");
        this.placementReady = context.readiness().register("placement");
        this.grpcReady = context.readiness().register("grpc");
    }

    @Override
    public Future<Void> start() {
        Vertx vertx = context.vertx();
        return vertx.executeBlocking(() -> {
            state = StateDirectory.open(config.stateDirPath());
            tokens = new BootstrapTokens(state, config.trustDomain(), clock);
            reviewer = tokens;
            KubernetesSettings k8s = config.kubernetes();
            KubernetesApi api = null;
            String namespace = null;
            if (k8s.enabled()) {
                api = KubernetesApi.create(k8s.connection());
                namespace = k8s.effectiveNamespace();
                reviewer = new KubernetesTokenReviewer(api, k8s, namespace, config.trustDomain(), context.metrics(),
                        clock);
                if (!k8s.rootConfigMap().isEmpty()) {
                    rootConfigMap = new RootCertConfigMap(api, namespace, k8s.rootConfigMap());
                }
                if (!k8s.servingSecrets().isEmpty()) {
                    servingSecrets = new ServingSecrets(api, namespace, k8s.servingSecrets(), config.trustDomain(),
                            config.tls().servingCertValidity(), context.metrics());
                }
                log.atInfo().addKeyValue("apiServer", api.server()).addKeyValue("namespace", namespace)
                        .log("kubernetes mode: TokenReview authentication, root of trust in a Secret");
            }
            source = config.root().plugin()
                    ? new PluginCa(Path.of(config.root().pluginCertsDir()), state, clock)
                    : new LocalRoots(k8s.enabled() ? new SecretRootStore(api, namespace, k8s.rootSecret()) : state,
                            config.root().organization().isEmpty() ? config.trustDomain()
                                    : config.root().organization(), config.root().validity(), clock);
            CaAuthority ca = source.load();
            // after load: a first start writes the files it then stamps
            sourceStamp = source.stamp();
            authority.set(ca);
            publishRoots(ca);
            checkServingSecrets(ca);
            journal = IssuanceJournal.open(state, replica, clock.instant());
            nextJournalPrune = clock.instant().plus(JOURNAL_PRUNE_INTERVAL);
            publisher = EventPublisher.create(config.kafka(), "ca-" + replica, context.metrics())
                    .declare(config.audit().topic());
            // without Kafka revocations stay in stateDir
            revocationSender = config.kafka().enabled() ? RevocationSender.create(config.kafka(),
                    "ca-" + replica + "-revocations", config.revocation().topic(), context.metrics()) : null;
            revocations = new Revocations(new RevocationStore(state, clock,
                    config.certificates().maxValidity()), authority::get, trustBundle,
                    revocationSender, config.revocation().crlValidity(), config.revocation().pruneAfterExpiry(),
                    clock);
            serving = newServingCertificate(ca);
            // loads the native TLS library here, not on the event loops that build the listeners
            TlsPolicy.provider();
            trustBundle.roots(ca.rootPems());
            revocations.refresh();
            log.atInfo().addKeyValue("source", ca.source()).addKeyValue("signer", CaAuthority.describe(ca.signingCert()))
                    .addKeyValue("roots", ca.roots().size()).log("root of trust loaded");
            return ca;
        }).compose(ca -> {
            authorityReady.complete();
            if (config.kafka().enabled()) {
                revocationTopicFailures = Counter.builder().name("ca_revocation_topic_setup_failures_total")
                        .help("Failed attempts to create or compact the revocation topic (retried), by reason:"
                                + " not_authorized (an ACL is missing; the log names it) or error")
                        .labelNames("reason").register(context.metrics());
                revocationTopicFailures.labelValues("not_authorized");
                revocationTopicFailures.labelValues("error");
                revocationTopicWarnings = Counter.builder().name("ca_revocation_topic_config_warnings_total")
                        .help("Settings of the existing revocation topic ca does not change itself, found at start"
                                + " (logged): replication_factor (fewer replicas than"
                                + " revocation.topicReplicationFactor asks), min_insync_replicas (below 2 on 3"
                                + " replicas or more)")
                        .labelNames("reason").register(context.metrics());
                revocationTopicWarnings.labelValues("replication_factor");
                revocationTopicWarnings.labelValues("min_insync_replicas");
                ensureRevocationTopic();
            }
            placement = collaborators.placement() != null ? collaborators.placement() : newPlacement();
            placement.ready().whenComplete((v, err) -> {
                if (err == null) {
                    placementReady.complete();
                } else {
                    log.atError().setCause(err).log("placement source failed: {}", err.getMessage());
                }
            });
            pool = new SigningPool("ca", config.certificates().effectiveSigningThreads(),
                    config.certificates().maxPendingSignatures());
            SigningPool signing = pool;
            CaMetrics metrics = new CaMetrics(context.metrics(), clock,
                    () -> rootExpiry(authority.get()), () -> authority.get().signingCert().getNotAfter().toInstant(),
                    signing::pending);
            IssuanceAudit audit = new IssuanceAudit(publisher, config.audit().topic(), replica, config.trustDomain());
            CertificateIssuer issuer = new CertificateIssuer(
                    new CertificateIssuer.Settings(config.trustDomain(), config.certificates().defaultValidity(),
                            config.certificates().maxValidity(), config.certificates().zeroValidityMeansDefault()),
                    reviewer, placement, authority::get, new CsrValidator(config.certificates().maxCsrBytes()),
                    new LeafSigner(config.certificates().backdate()), metrics, audit, journal, revocations,
                    clock);
            certificates = new IstioCertificateEndpoint(issuer, pool, config.grpc().maxRequestBytes());
            trustEndpoint = new TrustBundleEndpoint(trustBundle);
            TokenReviewEndpoint review = new TokenReviewEndpoint(vertx, reviewer);
            CaAdminEndpoint admin = new CaAdminEndpoint(vertx, reviewer, revocations, tokens,
                    () -> trustBundle.current().getVersion(), config.trustDomain(), config.tokens().defaultTtl(),
                    context.metrics());
            return CaGrpcServer.start(vertx, config.grpc(), serving,
                    UncompressedCalls.counter(context.metrics(), "ca"),
                    Http2Liveness.counter(context.metrics(), "ca"), grpc -> {
                certificates.bind(grpc);
                trustEndpoint.bind(grpc);
                review.bind(grpc);
                admin.bind(grpc);
            });
        }).map(s -> {
            server = s;
            grpcReady.complete();
            reloadTimer = vertx.setPeriodic(config.stateReloadInterval().toMillis(), id -> reload());
            log.atInfo().addKeyValue("port", s.port()).addKeyValue("replica", replica)
                    .addKeyValue("trustDomain", config.trustDomain()).log("ca serving");
            return null;
        });
    }

    /**
     * Creates the compacted revocation topic if missing (compacting it if it exists otherwise), without delaying
     * startup; revocations are published only after it, and it is retried until it succeeds.
     */
    private void ensureRevocationTopic() {
        context.vertx().executeBlocking(() -> {
            return RevocationTopic.ensure(config.kafka().bootstrapServers(), config.revocation().topic(),
                    config.revocation().topicReplicationFactor(),
                    Duration.ofSeconds(10));
        }, false).onSuccess(warnings -> {
            warnings.forEach(w -> revocationTopicWarnings.labelValues(w.reason()).inc()); // logged by ensure
            revocations.topicReady();
        }).onFailure(err -> {
            boolean denied = err instanceof RevocationTopic.NotAuthorized;
            revocationTopicFailures.labelValues(denied ? "not_authorized" : "error").inc();
            // a missing ACL is named in the message: its stack trace every 10 s would only bury it
            log.atWarn().setCause(denied ? null : err).addKeyValue("topic", config.revocation().topic())
                    .log("revocation topic not ensured, retrying in {}: {}", REVOCATION_TOPIC_RETRY,
                            err.getMessage());
            if (!closing) {
                context.vertx().setTimer(REVOCATION_TOPIC_RETRY.toMillis(), id -> {
                    if (!closing) {
                        ensureRevocationTopic();
                    }
                });
            }
        });
    }

    @Override
    public void adminRoutes(AdminServer.Builder admin) {
        // the CRL: DER (application/pkix-crl), or PEM with ?format=pem; 503 until the CA has started
        admin.route("/crl", req -> {
            CrlSigner.SignedCrl crl = revocations == null ? null : revocations.crl();
            if (crl == null) {
                req.response().setStatusCode(503).end("crl not available yet\n");
            } else if ("pem".equals(req.getParam("format"))) {
                req.response().putHeader("content-type", "application/x-pem-file").end(crl.pem());
            } else {
                req.response().putHeader("content-type", "application/pkix-crl").end(Buffer.buffer(crl.der()));
            }
        });
    }

    private PlacementSource newPlacement() {
        if (CaConfig.Placement.CONFIG_LOG.equals(config.placement().source())) {
            return ConfigLogPlacement.start(config.kafka().bootstrapServers(), config.placement().topic(),
                    config.trustDomain(), "ca-" + replica + "-placement", context.metrics());
        }
        return new NoPlacement();
    }

    /** Kubernetes mode: the trusted roots into the root ConfigMap; a failure is logged and retried later. */
    private void publishRoots(CaAuthority ca) {
        if (rootConfigMap == null) {
            return;
        }
        String pem = ca.rootsPem();
        try {
            if (rootConfigMap.sync(pem)) {
                log.atInfo().addKeyValue("roots", ca.roots().size()).log("published the trusted roots to the root"
                        + " ConfigMap");
            }
            publishedRoots = pem;
        } catch (RuntimeException e) {
            log.atWarn().log("root ConfigMap not updated, will retry: {}", e.getMessage());
        }
    }

    /**
     * Kubernetes mode: the other control-plane services' serving certificates (policy's) current under {@code ca};
     * again after kubernetes.servingSecretCheckInterval, or at the next reload after a failed check.
     */
    private void checkServingSecrets(CaAuthority ca) {
        if (servingSecrets == null) {
            return;
        }
        ServingSecrets.Result r = servingSecrets.sync(ca, clock.instant());
        Duration interval = config.kubernetes().servingSecretCheckInterval();
        Duration retry = Duration.ofSeconds(5);
        nextServingSecretsCheck = clock.instant().plus(r.ok() || interval.compareTo(retry) < 0 ? interval : retry);
    }

    private ServingCertificate newServingCertificate(CaAuthority ca) {
        return ServingCertificate.issue(ca, config.trustDomain(), config.tls().dnsSans(), config.tls().ipSans(),
                config.tls().servingCertValidity(), clock.instant());
    }

    private static Instant rootExpiry(CaAuthority ca) {
        return ca == null ? null : ca.signingRoot().getNotAfter().toInstant();
    }

    /** One check of the state directory, off the event loop; skipped while the previous one still runs. */
    private void reload() {
        if (!reloading.compareAndSet(false, true)) {
            return;
        }
        context.vertx().executeBlocking(() -> {
            tokens.reloadIfChanged();
            String stamp = source.stamp();
            ServingCertificate renewed = null;
            if (!stamp.equals(sourceStamp) && !stamp.equals(failedStamp)) {
                try {
                    CaAuthority ca = source.load();
                    sourceStamp = stamp;
                    if (!ca.sameMaterial(authority.get())) {
                        authority.set(ca);
                        publishRoots(ca);
                        checkServingSecrets(ca);
                        trustBundle.roots(ca.rootPems());
                        renewed = newServingCertificate(ca);
                        log.atInfo().addKeyValue("signer", CaAuthority.describe(ca.signingCert()))
                                .addKeyValue("roots", ca.roots().size()).log("root of trust reloaded");
                    }
                } catch (RuntimeException e) {
                    failedStamp = stamp;
                    log.atError().addKeyValue("source", source.describe())
                            .log("new signing material refused, still serving the previous one: {}", e.getMessage());
                }
            }
            if (rootConfigMap != null && !authority.get().rootsPem().equals(publishedRoots)) {
                publishRoots(authority.get()); // an earlier attempt failed
            }
            if (servingSecrets != null && !clock.instant().isBefore(nextServingSecretsCheck)) {
                checkServingSecrets(authority.get());
            }
            revocations.refresh();
            if (!clock.instant().isBefore(nextJournalPrune)) {
                journal.prune(clock.instant());
                nextJournalPrune = clock.instant().plus(JOURNAL_PRUNE_INTERVAL);
            }
            if (renewed == null && !clock.instant().isBefore(serving.renewAt())) {
                renewed = newServingCertificate(authority.get());
            }
            return renewed;
        }).compose(renewed -> {
            if (renewed == null) {
                return Future.succeededFuture();
            }
            serving = renewed;
            return server.updateCertificate(renewed);
        }).onComplete(ar -> {
            reloading.set(false);
            if (ar.failed()) {
                log.atWarn().setCause(ar.cause()).log("state directory check failed: {}", ar.cause().getMessage());
            }
        });
    }

    @Override
    public Future<Void> drain() {
        if (certificates == null) {
            return Future.succeededFuture();
        }
        certificates.drain();
        trustEndpoint.endAll();
        Promise<Void> done = Promise.promise();
        awaitIdle(done);
        return done.future();
    }

    private void awaitIdle(Promise<Void> done) {
        if (certificates.inFlight() == 0) {
            done.tryComplete();
            return;
        }
        context.vertx().setTimer(20, id -> awaitIdle(done));
    }

    @Override
    public Future<Void> close() {
        closing = true;
        if (reloadTimer >= 0) {
            context.vertx().cancelTimer(reloadTimer);
        }
        Future<Void> closed = server == null ? Future.succeededFuture() : server.close();
        return closed.eventually(() -> context.vertx().executeBlocking(() -> {
            if (pool != null) {
                pool.close();
            }
            if (placement != null && collaborators.placement() == null) {
                placement.close();
            }
            if (publisher != null) {
                publisher.close();
            }
            if (revocationSender != null) {
                revocationSender.close();
            }
            if (journal != null) {
                journal.close();
            }
            return null;
        })).mapEmpty();
    }

    CaConfig config() {
        return config;
    }

    /** The port the gRPC listener obtained (useful with port 0). */
    public int grpcPort() {
        return server.port();
    }

    /** The signing material in use. */
    public CaAuthority authority() {
        return authority.get();
    }

    public BootstrapTokens tokens() {
        return tokens;
    }

    public TrustBundleState trustBundle() {
        return trustBundle;
    }

    public Revocations revocations() {
        return revocations;
    }

    public StateDirectory stateDirectory() {
        return state;
    }

    /** Checks the state directory now instead of at the next interval (tests, CLI-driven changes). */
    public Future<Void> reloadNow() {
        Promise<Void> p = Promise.promise();
        context.vertx().runOnContext(v -> {
            reload();
            p.complete();
        });
        return p.future();
    }
}
