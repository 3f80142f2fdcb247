package io.jmesh.core.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.AdminConfig;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ServiceLauncherTest {

    record Cfg(String logLevel, Duration drainDeadline, AdminConfig admin) implements ServiceConfig {}

    /** A service with one in-flight "request" that finishes only when released. */
    static final class SlowService implements MeshService {
        final List<String> calls = new ArrayList<>();
        final Promise<Void> inFlight = Promise.promise();
        final ServiceContext ctx;

        SlowService(ServiceContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void adminRoutes(io.jmesh.core.admin.AdminServer.Builder admin) {
            admin.route("/hello", req -> req.response().end("hi"));
        }

        @Override
        public Future<Void> start() {
            calls.add("start");
            ctx.readiness().register("warmup").complete();
            return Future.succeededFuture();
        }

        @Override
        public Future<Void> drain() {
            calls.add("drain:" + ctx.drain().isDraining());
            return inFlight.future();
        }

        @Override
        public Future<Void> close() {
            calls.add("close");
            return Future.succeededFuture();
        }
    }

    /** Registers its startup task only inside start(), which completes when the test says so. */
    static final class LateTasksService implements MeshService {
        final Promise<Void> started = Promise.promise();
        final ServiceContext ctx;

        LateTasksService(ServiceContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public Future<Void> start() {
            return started.future().onSuccess(v -> ctx.readiness().register("late").complete());
        }

        @Override
        public Future<Void> close() {
            return Future.succeededFuture();
        }
    }

    @Test
    void notReadyWhileStartIsStillRunningEvenWithNoTaskRegisteredYet() throws Exception {
        Vertx vertx = Vertx.vertx();
        var holder = new LateTasksService[1];
        int port;
        try (java.net.ServerSocket free = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort(); // start() completes only later, so the admin's port must be known up front
        }
        var running = ServiceLauncher.start(new Cfg("info", Duration.ofMillis(300), new AdminConfig("127.0.0.1", port)),
                vertx, (c, ctx) -> holder[0] = new LateTasksService(ctx));
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz/ready")).build();
        int status = 0;
        for (int i = 0; i < 100 && status == 0; i++) { // the admin server binds asynchronously
            try {
                status = http.send(ready, HttpResponse.BodyHandlers.ofString()).statusCode();
            } catch (java.io.IOException notYetListening) {
                Thread.sleep(50);
            }
        }
        assertThat(status).isEqualTo(503);
        holder[0].started.complete();
        running.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(http.send(ready, HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void servesAdminRoutesThenDrainsUntilTheDeadline() throws Exception {
        Vertx vertx = Vertx.vertx();
        var holder = new SlowService[1];
        var running = ServiceLauncher.start(new Cfg("info", Duration.ofMillis(300), new AdminConfig("127.0.0.1", 0)),
                vertx, (c, ctx) -> holder[0] = new SlowService(ctx))
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        int port = running.admin().port();
        HttpClient http = HttpClient.newHttpClient();
        assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello")).build(),
                HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("hi");
        assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz/ready")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
        assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body())
                // what the dashboards query; jvm_native_memory_* is left out (empty without NMT, and costs the JMX server)
                .contains("jvm_memory_used_bytes", "jvm_threads_current", "process_cpu_seconds_total")
                .doesNotContain("jvm_native_memory");

        AtomicInteger drainListener = new AtomicInteger();
        running.context().drain().onDrain(drainListener::incrementAndGet);
        running.shutdown(Duration.ofMillis(300));
        // the in-flight work never finished: shutdown gave up at the deadline and closed anyway
        assertThat(holder[0].inFlight.future().isComplete()).isFalse();
        assertThat(holder[0].calls).containsExactly("start", "drain:true", "close");
        assertThat(drainListener).hasValue(1);
    }

    @Test
    void drainSignalFiresOnceAndLateListenersRunImmediately() {
        DrainSignal d = new DrainSignal();
        AtomicInteger n = new AtomicInteger();
        d.onDrain(n::incrementAndGet);
        d.trigger();
        d.trigger();
        assertThat(n).hasValue(1);
        d.onDrain(n::incrementAndGet);
        assertThat(n).hasValue(2);
        assertThat(d.isDraining()).isTrue();
    }

    @Test
    void istioBuildNamesTheComponentAndTheVersion() throws Exception {
        var registry = new io.prometheus.metrics.model.registry.PrometheusRegistry();
        ServiceLauncher.registerBuildInfo(registry, "ztunnel");
        var out = new java.io.ByteArrayOutputStream();
        io.prometheus.metrics.expositionformats.ExpositionFormats.init().getPrometheusTextFormatWriter()
                .write(out, registry.scrape());
        // classes outside a packaged jar carry no Maven descriptor: the tag says so
        assertThat(out.toString(java.nio.charset.StandardCharsets.UTF_8))
                .contains("istio_build{component=\"ztunnel\",tag=\"unknown\"} 1.0");
    }

    @Test
    void configFileComesFromArguments() {
        assertThat(ServiceLauncher.configFile(new String[] {"--config", "/etc/ca.yaml"}))
                .hasToString("/etc/ca.yaml");
        assertThat(ServiceLauncher.configFile(new String[] {"--config=/x.yaml"})).hasToString("/x.yaml");
    }

    /**
     * An event loop blocked past Vert.x's 2 s limit is reported with the stack that blocks it, at the first warning:
     * Vert.x's default adds the stack only past 5 s, so the usual 2-4 s stall used to be a warning saying nothing of
     * its cause (seen in the mesh-restarts soak: "Thread vert.x-eventloop-thread-2 has been blocked for 2772 ms").
     */
    @Test
    void aBlockedEventLoopIsReportedWithTheStackThatBlocksIt() throws Exception {
        ch.qos.logback.classic.Logger checker = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger("io.vertx.core.impl.BlockedThreadChecker");
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines =
                new ch.qos.logback.core.read.ListAppender<>();
        lines.start();
        checker.addAppender(lines);
        Vertx vertx = ServiceLauncher.newVertx(1);
        try {
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            vertx.runOnContext(v -> {
                try {
                    // bounded: released once the warning is seen, or after 10 s at most
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (lines.list.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            release.countDown();
            assertThat(lines.list).as("a blocked-thread warning").isNotEmpty();
            ch.qos.logback.classic.spi.ILoggingEvent first = lines.list.get(0);
            assertThat(first.getFormattedMessage()).contains("has been blocked for");
            assertThat(first.getThrowableProxy()).as("the stack of the blocked thread").isNotNull();
            assertThat(java.util.Arrays.stream(first.getThrowableProxy().getStackTraceElementProxyArray())
                    .map(Object::toString)).anyMatch(frame -> frame.contains("ServiceLauncherTest"));
        } finally {
            checker.detachAppender(lines);
            vertx.close().await();
        }
    }
}
