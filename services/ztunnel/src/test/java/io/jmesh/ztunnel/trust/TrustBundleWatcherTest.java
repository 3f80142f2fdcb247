package io.jmesh.ztunnel.trust;

import static io.jmesh.ztunnel.trust.TestBundles.bundle;
import static io.jmesh.ztunnel.trust.TestBundles.crl;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.ca.v1.TrustBundle;
import io.jmesh.proto.ca.v1.TrustBundleServiceGrpcService;
import io.jmesh.proto.ca.v1.WatchTrustBundleRequest;
import io.jmesh.ztunnel.testing.TestCa;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerResponse;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The watch client against a hand-driven {@code TrustBundleService} peer (the bad bundles a real ca never sends):
 * a good bundle is applied, a bad one is refused with its reason while the previous snapshot stays in force, and
 * after the stream ends the client reconnects announcing the version it holds.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TrustBundleWatcherTest {

    static final String TD = "cluster.local";

    record Watch(long knownVersion, GrpcServerResponse<WatchTrustBundleRequest, TrustBundle> response,
            Context context) {
        void send(TrustBundle b) {
            context.runOnContext(v -> response.write(b));
        }

        void end() {
            context.runOnContext(v -> response.end());
        }
    }

    Vertx vertx;
    HttpServer server;
    final List<Watch> watches = new CopyOnWriteArrayList<>();
    final PrometheusRegistry metrics = new PrometheusRegistry();
    final io.jmesh.ztunnel.tls.TrustBundle trust = new io.jmesh.ztunnel.tls.TrustBundle();
    final List<TrustSnapshot> seen = new CopyOnWriteArrayList<>();
    TrustBundleWatcher watcher;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(TrustBundleServiceGrpcService.Watch, call -> {
            Context ctx = Vertx.currentContext();
            call.handler(req -> {
                call.response().writeHead();
                watches.add(new Watch(req.getKnownVersion(), call.response(), ctx));
            });
        });
        server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        trust.onChange(seen::add);
        watcher = new TrustBundleWatcher(vertx, GrpcClient.client(vertx), new TrustBundleWatcher.Settings(
                SocketAddress.inetSocketAddress(server.actualPort(), "127.0.0.1"), () -> "node-token", "Kubernetes",
                Duration.ofMillis(20), Duration.ofMillis(200)), trust, TD, List::of, Clock.systemUTC(), metrics);
        watcher.start();
    }

    @AfterEach
    void stop() throws Exception {
        watcher.stop();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aBadBundleIsRefusedWithItsReasonAndThePreviousOneStaysInForce() throws Exception {
        TestCa.Issued root = TestCa.root("mesh root");
        TestCa.Issued other = TestCa.root("mesh root");
        Instant now = Instant.now();
        await().atMost(Duration.ofSeconds(10)).until(() -> watches.size() == 1);
        assertThat(watches.get(0).knownVersion()).isZero();

        watches.get(0).send(bundle(10, TD, crl(root, root, now, Duration.ofHours(1), BigInteger.TEN), root));
        await().atMost(Duration.ofSeconds(10)).until(() -> trust.snapshot().version() == 10);
        assertThat(trust.snapshot().revoked()).containsExactly(BigInteger.TEN);

        // a CRL signed by another key, then a stale one: both refused, version 10 stays
        watches.get(0).send(bundle(11, TD, crl(root, other, now, Duration.ofHours(1)), root));
        watches.get(0).send(bundle(12, TD, crl(root, root, now.minus(Duration.ofHours(2)), Duration.ofHours(1)),
                root));
        watches.get(0).send(bundle(13, "other.mesh", null, root));
        await().atMost(Duration.ofSeconds(10)).until(() -> rejected("crl_signature") == 1
                && rejected("crl_stale") == 1 && rejected("trust_domain") == 1);
        assertThat(trust.snapshot().version()).isEqualTo(10);
        assertThat(trust.snapshot().revoked()).containsExactly(BigInteger.TEN);
        assertThat(seen).extracting(TrustSnapshot::version).containsExactly(10L);

        // the stream ends: the client comes back announcing version 10 and takes the next good bundle
        watches.get(0).end();
        await().atMost(Duration.ofSeconds(10)).until(() -> watches.size() == 2);
        assertThat(watches.get(1).knownVersion()).isEqualTo(10);
        watches.get(1).send(bundle(14, TD, null, root));
        await().atMost(Duration.ofSeconds(10)).until(() -> trust.snapshot().version() == 14);
        assertThat(trust.snapshot().revoked()).isEmpty();

        // an older version than the one in force is refused too
        watches.get(1).send(bundle(9, TD, null, root));
        await().atMost(Duration.ofSeconds(10)).until(() -> rejected("stale_version") == 1);
        assertThat(trust.snapshot().version()).isEqualTo(14);
    }

    /**
     * The token file cannot be read when the watch connects (not mounted yet): that attempt ends like a failed
     * connect and the watch is retried after the backoff, instead of never connecting again.
     */
    @Test
    void aTokenThatCannotBeReadOnceDelaysTheWatchButDoesNotEndIt() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(() -> watches.size() == 1); // the default watcher's
        watcher.stop();
        AtomicInteger reads = new AtomicInteger();
        watcher = new TrustBundleWatcher(vertx, GrpcClient.client(vertx), new TrustBundleWatcher.Settings(
                SocketAddress.inetSocketAddress(server.actualPort(), "127.0.0.1"), () -> {
                    if (reads.incrementAndGet() == 1) {
                        throw new UncheckedIOException("cannot read the token file /var/run/token",
                                new NoSuchFileException("/var/run/token"));
                    }
                    return "node-token";
                }, "Kubernetes", Duration.ofMillis(20), Duration.ofMillis(200)), trust, TD, List::of,
                Clock.systemUTC(), new PrometheusRegistry());
        watcher.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> watches.size() == 2);
        assertThat(reads.get()).isEqualTo(2);
    }

    private double rejected(String reason) {
        return metrics.scrape().stream().filter(s -> s.getMetadata().getName().equals("ztunnel_trust_bundle_rejected"))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .filter(d -> reason.equals(d.getLabels().get("reason"))).mapToDouble(d -> d.getValue()).sum();
    }
}
