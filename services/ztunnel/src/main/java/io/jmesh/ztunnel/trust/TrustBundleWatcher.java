package io.jmesh.ztunnel.trust;

import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcClient;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the ca's trust bundle ({@code jmesh.ca.v1.TrustBundleService/Watch}) and swaps each valid one into the
 * {@link io.jmesh.ztunnel.tls.TrustBundle} as a new {@link TrustSnapshot}.
 *
 * <p>Authenticates as the node ({@code authorization: Bearer}); resumes with {@code known_version} = the last
 * version applied, so a reconnect sends nothing already held; reconnects with exponential backoff (reset by a
 * received bundle). A bundle that fails {@link BundleValidator} is logged with its reason, counted in
 * {@code ztunnel_trust_bundle_rejected_total{reason}}, and the previous snapshot stays in force. Until the first
 * bundle arrives the bootstrap roots (file, or the ca's CreateCertificate answer) apply.
 *
 * <p>Stream state lives on one Vert.x context; validation (a signature check) runs on a worker, in order.
 */
public final class TrustBundleWatcher {

    private static final Logger log = LoggerFactory.getLogger(TrustBundleWatcher.class);

    /** How the watcher connects and retries; see {@code identity.trustBundle.*} in ztunnel-defaults.yaml. */
    public record Settings(SocketAddress server, Supplier<String> token, String clusterId, Duration initialBackoff,
            Duration maxBackoff) {}

    private final Vertx vertx;
    private final Context context;
    private final GrpcClient client;
    private final Settings settings;
    private final io.jmesh.ztunnel.tls.TrustBundle trust;
    private final BundleValidator validator;
    private final Supplier<Collection<X509Certificate>> intermediates;
    private final Clock clock;
    private final Counter rejected;
    private final Counter streamEnds;
    private final Gauge version;
    private final Promise<Void> first = Promise.promise();
    private final Promise<Void> settled = Promise.promise();
    private Duration backoff;
    private volatile long appliedVersion;
    private volatile boolean stopped;
    private volatile GrpcClientRequest<WatchTrustBundleRequest, TrustBundle> call;

    /**
     * @param intermediates CA certificates below the roots known from local certificate chains (a plug-in CA's
     *     intermediate signs the CRL)
     */
    public TrustBundleWatcher(Vertx vertx, GrpcClient client, Settings settings, io.jmesh.ztunnel.tls.TrustBundle trust,
            String trustDomain, Supplier<Collection<X509Certificate>> intermediates, Clock clock,
            PrometheusRegistry metrics) {
        this.vertx = vertx;
        this.context = vertx.getOrCreateContext();
        this.client = client;
        this.settings = settings;
        this.trust = trust;
        this.validator = new BundleValidator(trustDomain);
        this.intermediates = intermediates;
        this.clock = clock;
        this.backoff = settings.initialBackoff();
        this.rejected = Counter.builder().name("ztunnel_trust_bundle_rejected_total")
                .help("trust bundles from the ca refused (the previous one stays in force), by reason")
                .labelNames("reason").register(metrics);
        this.streamEnds = Counter.builder().name("ztunnel_trust_bundle_stream_ends_total")
                .help("trust bundle watch streams that ended, by reason").labelNames("reason").register(metrics);
        this.version = Gauge.builder().name("ztunnel_trust_bundle_version")
                .help("version of the ca trust bundle in force (0: bootstrap roots only)").register(metrics);
        // a CRL past its nextUpdate is still enforced (revocations are never forgotten) but means the ca stream is
        // broken: alert on this going negative
        GaugeWithCallback.builder().name("ztunnel_trust_bundle_crl_expiry_seconds")
                .help("seconds until the CRL in force passes its nextUpdate (no sample without a CRL)")
                .callback(cb -> {
                    Instant next = trust.snapshot().crlNextUpdate();
                    if (next != null) {
                        cb.call(Duration.between(clock.instant(), next).toMillis() / 1000.0);
                    }
                }).register(metrics);
    }

    public void start() {
        context.runOnContext(v -> connect());
    }

    public void stop() {
        stopped = true;
        var c = call;
        if (c != null) {
            c.cancel();
        }
    }

    /** Completes when the first bundle from the ca is in force. */
    public Future<Void> firstBundle() {
        return first.future();
    }

    /** Completes when the first bundle is in force, or the ca turned out not to offer bundles at all. */
    public Future<Void> settled() {
        return settled.future();
    }

    /** The ca bundle version in force, 0 before the first. */
    public long appliedVersion() {
        return appliedVersion;
    }

    private void connect() {
        if (stopped) {
            return;
        }
        // read before the call is opened: an unreadable token file (BearerTokenFile throws) ends this attempt like a
        // failed connect, retried after the backoff; thrown inside the callback it would end the watch for good
        String bearer;
        try {
            bearer = settings.token().get();
        } catch (RuntimeException e) {
            ended(null, "error", "token: " + e.getMessage());
            return;
        }
        client.request(settings.server(), TrustBundleServiceGrpcClient.Watch).onSuccess(c -> {
            call = c;
            if (bearer != null && !bearer.isEmpty()) {
                c.headers().set("authorization", "Bearer " + bearer);
            }
            c.headers().set("clusterid", settings.clusterId());
            // ca sends GOAWAY when it ages a connection out (grpc.maxConnectionAge, istiod's 30 min) or shuts down:
            // the watch's end is then a reconnect, not an error
            boolean[] goneAway = {false};
            if (c.connection() != null) {
                io.jmesh.core.grpc.GoAways.onReceived(c.connection(), () -> goneAway[0] = true);
            }
            c.end(WatchTrustBundleRequest.newBuilder().setKnownVersion(appliedVersion).build());
            c.response().onSuccess(resp -> {
                resp.handler(this::received);
                resp.exceptionHandler(e -> ended(c, goneAway[0] ? "reconnect" : "error",
                        "stream error: " + e.getMessage()));
                resp.endHandler(v -> {
                    if (resp.status() == GrpcStatus.UNIMPLEMENTED && appliedVersion == 0) {
                        unsupported(c);
                        return;
                    }
                    ended(c, goneAway[0] ? "reconnect" : resp.status() == GrpcStatus.OK ? "closed" : "error",
                            "ca ended the stream: " + resp.status() + " " + String.valueOf(resp.statusMessage()));
                });
            }).onFailure(e -> ended(c, goneAway[0] ? "reconnect" : "error", "watch failed: " + e.getMessage()));
        }).onFailure(e -> ended(null, "error", "connect failed: " + e.getMessage()));
    }

    private void received(TrustBundle b) {
        backoff = settings.initialBackoff();
        // ordered: bundles are applied in the order the ca sent them
        vertx.executeBlocking(() -> validator.validate(b, intermediates.get(), clock.instant()), true)
                .onComplete(ar -> context.runOnContext(v -> {
                    if (ar.failed()) {
                        String reason = ar.cause() instanceof BundleRejected r ? r.reason() : "invalid";
                        rejected.labelValues(reason).inc();
                        log.atWarn().addKeyValue("version", b.getVersion()).addKeyValue("reason", reason)
                                .addKeyValue("keptVersion", appliedVersion)
                                .log("trust bundle rejected, keeping the previous one: {}", ar.cause().getMessage());
                        return;
                    }
                    TrustSnapshot next = ar.result();
                    if (next.version() <= appliedVersion) {
                        rejected.labelValues("stale_version").inc();
                        log.atWarn().addKeyValue("version", next.version()).addKeyValue("keptVersion", appliedVersion)
                                .log("trust bundle rejected: not newer than the one in force");
                        return;
                    }
                    appliedVersion = next.version();
                    version.set(next.version());
                    trust.install(next);
                    log.atInfo().addKeyValue("version", next.version()).addKeyValue("roots", next.roots().size())
                            .addKeyValue("revoked", next.revoked().size())
                            .addKeyValue("crlNextUpdate", String.valueOf(next.crlNextUpdate()))
                            .log("trust bundle applied");
                    first.tryComplete();
                    settled.tryComplete();
                }));
    }

    /**
     * The CA does not offer {@code TrustBundleService} (an Istio CA): roots keep coming from its certificate
     * answers, without a CRL. Not an error and nothing to wait for, so no retry.
     */
    private void unsupported(GrpcClientRequest<WatchTrustBundleRequest, TrustBundle> c) {
        if (c != call) {
            return;
        }
        streamEnds.labelValues("unimplemented").inc();
        call = null;
        log.atInfo().addKeyValue("server", settings.server().toString())
                .log("the ca does not offer jmesh.ca.v1.TrustBundleService (an Istio CA?): trusting the roots of its"
                        + " certificate answers, without a CRL");
        settled.tryComplete();
    }

    /**
     * Once per stream (its error and end both land here): counts, then reconnects after the backoff. A watch whose
     * connection ca sent away ({@code reconnect}) is watched again after the initial backoff with an INFO line, as
     * Istio's ztunnel takes a stream ended after a GOAWAY; any other end doubles the backoff and is a warning.
     */
    private void ended(GrpcClientRequest<WatchTrustBundleRequest, TrustBundle> c, String reason, String why) {
        if (c != call) {
            return; // this stream's end was already handled
        }
        streamEnds.labelValues(reason).inc();
        call = null;
        if (stopped) {
            return;
        }
        boolean reconnect = reason.equals("reconnect");
        Duration wait = reconnect ? settings.initialBackoff() : backoff;
        backoff = reconnect ? settings.initialBackoff() : min(backoff.multipliedBy(2), settings.maxBackoff());
        (reconnect ? log.atInfo() : log.atWarn()).addKeyValue("server", settings.server().toString())
                .addKeyValue("retryIn", wait.toString()).addKeyValue("keptVersion", appliedVersion)
                .log(reconnect ? "trust bundle watch ended: the ca sent its connection away (GOAWAY: aged out or"
                        + " shutting down) ({}); watching again on a new connection, the current bundle stays in force"
                        : "trust bundle watch ended ({}); the current bundle stays in force", why);
        vertx.setTimer(Math.max(1, wait.toMillis()), id -> connect());
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
