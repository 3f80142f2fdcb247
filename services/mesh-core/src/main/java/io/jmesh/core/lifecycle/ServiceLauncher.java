package io.jmesh.core.lifecycle;

import io.jmesh.core.admin.AdminServer;
import io.jmesh.core.admin.Readiness;
import io.jmesh.core.config.ConfigException;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.logging.JsonLogging;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmCompilationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryPoolAllocationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.JvmThreadsMetrics;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a service process: JSON logs, configuration (printed once, secrets redacted), Vert.x, metrics and
 * readiness on the admin port, and a SIGTERM handler that drains until the configured deadline.
 *
 * <p>Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT, drained), 1 when the service fails to start, 2 for
 * a bad configuration, 128+n when a second signal n, a second or more after the first, cuts the drain short.
 */
public final class ServiceLauncher {

    private static final Logger log = LoggerFactory.getLogger(ServiceLauncher.class);

    private ServiceLauncher() {}

    /** A running service and the pieces the launcher built around it. */
    public record Running<C>(C config, ServiceContext context, MeshService service, AdminServer admin,
            AtomicBoolean stopping) {

        Running(C config, ServiceContext context, MeshService service, AdminServer admin) {
            this(config, context, service, admin, new AtomicBoolean());
        }

        /** Drains with the configured deadline, then closes everything. Runs once; later calls return at once. */
        public void shutdown(Duration deadline) {
            if (!stopping.compareAndSet(false, true)) {
                return;
            }
            context.drain().trigger();
            log.atInfo().addKeyValue("deadline", deadline.toString()).log("draining");
            await(service.drain(), deadline, "drain");
            await(service.close(), Duration.ofSeconds(5), "close");
            await(admin.close(), Duration.ofSeconds(2), "admin close");
            await(context.vertx().close(), Duration.ofSeconds(5), "vert.x close");
            log.info("stopped");
        }
    }

    /**
     * Loads configuration from {@code --config <file>} (or {@code MESH_CONFIG}) and runs the service until the
     * JVM is asked to stop. Does not return on configuration or startup errors: it exits.
     */
    public static <C extends ServiceConfig> Running<C> run(String service, Class<C> configType, String[] args,
            BiFunction<C, ServiceContext, MeshService> factory) {
        JsonLogging.install("info");
        Path file = configFile(args);
        ConfigLoader.Loaded<C> loaded;
        try {
            loaded = ConfigLoader.load(configType, service, file, System.getenv());
            JsonLogging.setLevel("root", loaded.config().logLevel());
        } catch (ConfigException | IllegalArgumentException e) {
            log.atError().addKeyValue("service", service).log("invalid configuration: {}", e.getMessage());
            System.err.println(service + ": invalid configuration: " + e.getMessage());
            JsonLogging.flush();
            System.exit(2);
            throw new AssertionError("unreachable");
        }
        AtomicBoolean signalled = new AtomicBoolean();
        try {
            Duration deadline = loaded.config().drainDeadline();
            Vertx vertx = newVertx(loaded.config().ioThreads(), loaded.config().blockingThreads());
            // SIGTERM/SIGINT drain and then exit 0; a second signal exits at once. Installed before anything is
            // logged or started, so that a signal at any point of the start-up also ends cleanly.
            AtomicReference<Running<C>> started = new AtomicReference<>();
            signalled = handleSignals(service, started, vertx, deadline);
            log.atInfo().addKeyValue("service", service).addKeyValue("sources", String.join(" < ", loaded.sources()))
                    .addKeyValue("config", loaded.redactedJson()).log("effective configuration");
            if (!loaded.ignoredEnv().isEmpty()) {
                log.atWarn().addKeyValue("variables", String.join(",", loaded.ignoredEnv()))
                        .log("environment variables with the MESH_ prefix match no configuration key; ignored");
            }
            Running<C> running = start(loaded.config(), vertx, factory)
                    .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            started.set(running);
            registerBuildInfo(running.context().metrics(), service);
            // Any other exit path (System.exit from /quitquitquit, an uncaught fatal error) still drains.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                running.shutdown(deadline);
                JsonLogging.flush();
            }, service + "-shutdown"));
            log.atInfo().addKeyValue("service", service).addKeyValue("admin",
                    running.admin().host() + ":" + running.admin().port()).log("started");
            return running;
        } catch (Exception e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            if (signalled.get()) {
                // closing Vert.x for the signal is what failed the start (interrupted workers, closed clients)
                log.atInfo().addKeyValue("service", service).log("start-up abandoned: shutdown requested ({})",
                        cause.getMessage());
                JsonLogging.flush();
                System.exit(0);
            }
            log.atError().setCause(cause).addKeyValue("service", service).log("failed to start: {}",
                    cause.getMessage());
            System.err.println(service + ": failed to start: " + cause.getMessage());
            JsonLogging.flush();
            System.exit(1);
            throw new AssertionError("unreachable");
        }
    }

    /**
     * Starts a service in this JVM without signal handling or {@code System.exit}: for tests and for tools that
     * embed several services.
     */
    public static <C extends ServiceConfig> Future<Running<C>> start(C config, Vertx vertx,
            BiFunction<C, ServiceContext, MeshService> factory) {
        ServiceContext ctx = ServiceContext.create(vertx);
        registerJvmMetrics(ctx.metrics());
        MeshService service;
        try {
            service = factory.apply(config, ctx);
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        AdminServer.Builder admin = AdminServer.builder(vertx)
                .host(config.admin().host())
                .port(config.admin().port())
                .readiness(ctx.readiness())
                .metrics(ctx.metrics(), config.admin().maxConcurrentScrapes());
        service.adminRoutes(admin);
        AdminServer adminServer = admin.build();
        // pending from before the admin server answers until start() is done: a service that registers its own
        // tasks inside start() would otherwise look ready to a probe in between (no task pending yet)
        Readiness.Task started = ctx.readiness().register("start");
        return adminServer.start()
                .compose(a -> service.start())
                .onSuccess(v -> started.complete())
                .map(v -> new Running<>(config, ctx, service, adminServer));
    }

    /**
     * The {@code jvm_*} and {@code process_*} metrics of Prometheus' {@code JvmMetrics}, except
     * {@code jvm_native_memory_*}: those are empty unless the JVM runs with Native Memory Tracking, and reading them
     * starts the platform MBean server: ~300 more classes in a ztunnel (7,557 instead of 7,249; about 1.7 MiB of
     * metaspace and symbols).
     */
    static void registerJvmMetrics(PrometheusRegistry registry) {
        JvmThreadsMetrics.builder().register(registry);
        JvmBufferPoolMetrics.builder().register(registry);
        JvmClassLoadingMetrics.builder().register(registry);
        JvmCompilationMetrics.builder().register(registry);
        JvmGarbageCollectorMetrics.builder().register(registry);
        JvmMemoryPoolAllocationMetrics.builder().register(registry);
        JvmMemoryMetrics.builder().register(registry);
        JvmRuntimeInfoMetric.builder().register(registry);
        ProcessMetrics.builder().register(registry);
    }

    /**
     * Istio's {@code istio_build{component, tag}} gauge (always 1), which Istio's dashboards read to show what runs
     * where: the tag is the version Maven packaged ({@code unknown} outside a packaged jar).
     */
    static void registerBuildInfo(PrometheusRegistry registry, String component) {
        io.prometheus.metrics.core.metrics.Gauge.builder().name("istio_build").help("jmesh build information")
                .labelNames("component", "tag").register(registry).labelValues(component, version()).set(1);
    }

    /** The version Maven packaged jmesh as ({@code unknown} outside a packaged jar). */
    public static String version() {
        try (var in = ServiceLauncher.class.getResourceAsStream("/META-INF/maven/io.jmesh/mesh-core/pom.properties")) {
            if (in == null) {
                return "unknown";
            }
            java.util.Properties p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    /** Installs the SIGTERM/SIGINT handlers; the returned flag turns true at the first signal. */
    private static AtomicBoolean handleSignals(String service, AtomicReference<? extends Running<?>> started, Vertx vertx,
            Duration deadline) {
        AtomicBoolean signalled = new AtomicBoolean();
        ShutdownSignals signals = new ShutdownSignals();
        sun.misc.SignalHandler handler = sig -> {
            ShutdownSignals.Action action = signals.received(System.nanoTime());
            if (action == ShutdownSignals.Action.REPEATED) {
                log.atInfo().addKeyValue("signal", sig.getName()).log("signal repeated at once: still draining");
                return;
            }
            if (action == ShutdownSignals.Action.EXIT_NOW) {
                try {
                    log.atWarn().addKeyValue("signal", sig.getName()).log("second signal: exiting without draining");
                    JsonLogging.flush();
                } finally {
                    // even if logging fails (a jar replaced under the process cannot load the classes it needs)
                    Runtime.getRuntime().halt(128 + sig.getNumber());
                }
            }
            signalled.set(true);
            log.atInfo().addKeyValue("signal", sig.getName()).log("shutdown requested");
            Thread t = new Thread(() -> {
                int code = 0;
                try {
                    Running<?> running = started.get();
                    if (running != null) {
                        running.shutdown(deadline);
                    } else {
                        log.info("stopped during start-up");
                        await(vertx.close(), Duration.ofSeconds(5), "vert.x close");
                    }
                } catch (Throwable e) {
                    code = 1;
                    log.atError().setCause(e).log("shutdown failed: {}", e.toString());
                } finally {
                    try {
                        JsonLogging.flush();
                    } finally {
                        System.exit(code); // whatever failed above, the process must not stay up half stopped
                    }
                }
            }, service + "-signal");
            t.start();
        };
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), handler);
            } catch (IllegalArgumentException e) {
                log.atDebug().addKeyValue("signal", name).log("cannot handle signal: {}", e.getMessage());
            }
        }
        return signalled;
    }

    /** A Vert.x instance on the native transport when it loads (epoll on Linux). */
    public static Vertx newVertx() {
        return newVertx(0);
    }

    /** {@link #newVertx()} with {@code ioThreads} event loops (0: Vert.x's default, two per CPU). */
    public static Vertx newVertx(int ioThreads) {
        return newVertx(ioThreads, 0);
    }

    /**
     * {@link #newVertx(int)} with {@code blockingThreads} worker threads (0: Vert.x's default, 20), the pool of
     * {@code executeBlocking}.
     */
    public static Vertx newVertx(int ioThreads, int blockingThreads) {
        VertxOptions options = new VertxOptions().setPreferNativeTransport(true);
        // A blocked event loop is a bug, and its warning is only worth having with the stack that blocks: Vert.x
        // adds the stack only past 5 s by default, so a 2-4 s stall (the usual one) would say nothing of its cause.
        options.setWarningExceptionTime(options.getMaxEventLoopExecuteTime())
                .setWarningExceptionTimeUnit(options.getMaxEventLoopExecuteTimeUnit());
        if (ioThreads > 0) {
            options.setEventLoopPoolSize(ioThreads);
        }
        if (blockingThreads > 0) {
            options.setWorkerPoolSize(blockingThreads);
        }
        return Vertx.vertx(options);
    }

    static Path configFile(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if ("--config".equals(args[i]) && i + 1 < args.length) {
                return Path.of(args[i + 1]);
            }
            if (args[i].startsWith("--config=")) {
                return Path.of(args[i].substring("--config=".length()));
            }
        }
        Map<String, String> env = System.getenv();
        String fromEnv = env.get(ConfigLoader.ENV_CONFIG_FILE);
        return fromEnv == null || fromEnv.isBlank() ? null : Path.of(fromEnv);
    }

    private static void await(Future<?> f, Duration timeout, String what) {
        CompletableFuture<?> cf = f.toCompletionStage().toCompletableFuture();
        try {
            cf.get(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            log.atWarn().addKeyValue("step", what).addKeyValue("deadline", timeout.toString())
                    .log("deadline reached; forcing");
        } catch (Exception e) {
            log.atWarn().addKeyValue("step", what).log("failed: {}", String.valueOf(e.getMessage()));
        }
    }
}
