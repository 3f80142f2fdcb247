package io.jmesh.ca.testing;

import io.jmesh.ca.CaBootstrap;
import io.jmesh.ca.CaConfig;
import io.jmesh.ca.placement.PlacementSource;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real, in-process {@code ca} for tests: gRPC over TLS on 127.0.0.1 with an ephemeral port, a temporary state
 * directory (its own root of trust), and an admin port with {@code /metrics}.
 *
 * <pre>{@code
 * @RegisterExtension
 * static CaServerExtension ca = CaServerExtension.builder()
 *         .place("node-a", SpiffeId.of("cluster.local", "default", "sleep"))
 *         .build();
 *
 * String token = ca.nodeToken("node-a");            // authorization: Bearer <token>
 * String roots = ca.rootsPem();                      // trust for the CA's TLS and for issued certificates
 * SocketAddress addr = ca.address();                 // 127.0.0.1:<port>
 * }</pre>
 *
 * <p>Placement (which workload runs on which node, for {@code ImpersonatedIdentity}) is either declared by the
 * test ({@link Builder#place}, backed by {@link StaticPlacement}) or materialized from a real Kafka config log
 * ({@link Builder#kafka}; audit events then go to that Kafka too).
 *
 * <p>Per class when registered as a static field, per test on an instance field; {@link #start()} and {@link #stop()} may also be called
 * directly (e.g. two replicas sharing {@link Builder#stateDir}).
 */
public final class CaServerExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
        AfterEachCallback {

    private final Builder builder;
    private final StaticPlacement placement;
    private final Map<String, String> nodeTokens = new ConcurrentHashMap<>();
    private final Map<String, String> serviceTokens = new ConcurrentHashMap<>();
    private Vertx vertx;
    private ServiceLauncher.Running<CaConfig> running;
    private Path stateDir;
    private boolean ownStateDir;
    private boolean perTest;

    private CaServerExtension(Builder builder) {
        this.builder = builder;
        this.placement = builder.kafka == null ? builder.placement : null;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        stop();
    }

    /** Registered on an instance field, the CA lives for one test. */
    @Override
    public void beforeEach(ExtensionContext context) {
        if (running == null) {
            perTest = true;
            start();
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (perTest) {
            perTest = false;
            stop();
        }
    }

    /** Starts the CA; blocks until it serves. */
    public synchronized void start() {
        if (running != null) {
            return;
        }
        try {
            ownStateDir = builder.stateDir == null;
            stateDir = ownStateDir ? Files.createTempDirectory("ca-state-") : builder.stateDir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, String> env = new LinkedHashMap<>();
        env.put("MESH_STATE_DIR", stateDir.toString());
        env.put("MESH_GRPC_HOST", "127.0.0.1");
        env.put("MESH_GRPC_PORT", "0");
        env.put("MESH_GRPC_EVENT_LOOPS", "2");
        env.put("MESH_ADMIN_HOST", "127.0.0.1");
        env.put("MESH_ADMIN_PORT", "0");
        env.put("MESH_CERTIFICATES_SIGNING_THREADS", "2");
        env.put("MESH_STATE_RELOAD_INTERVAL", "200ms");
        env.put("MESH_DRAIN_DEADLINE", "2s");
        env.put("MESH_REPLICA", builder.replica);
        if (builder.kafka != null) {
            env.put("MESH_KAFKA_BOOTSTRAP_SERVERS", builder.kafka.get());
            env.put("MESH_PLACEMENT_SOURCE", "config-log");
        }
        builder.config.forEach((k, v) -> env.put(ConfigLoader.envName(k), v));
        CaConfig config = ConfigLoader.load(CaConfig.class, "ca", null, env).config();
        vertx = Vertx.vertx();
        PlacementSource p = placement;
        try {
            running = ServiceLauncher.start(config, vertx,
                    (c, ctx) -> new CaBootstrap(c, ctx, new CaBootstrap.Collaborators(builder.clock, p)))
                    .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            vertx.close();
            throw new IllegalStateException("ca did not start: " + e.getMessage(), e);
        }
    }

    /** Drains and stops the CA, and deletes its state directory unless the test supplied it. */
    public synchronized void stop() {
        if (running == null) {
            return;
        }
        running.shutdown(Duration.ofSeconds(2));
        running = null;
        nodeTokens.clear();
        serviceTokens.clear();
        if (ownStateDir) {
            try (Stream<Path> files = Files.walk(stateDir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                // temp files: best effort
            }
        }
    }

    /** The gRPC address (TLS). */
    public SocketAddress address() {
        return SocketAddress.inetSocketAddress(port(), "127.0.0.1");
    }

    public int port() {
        return bootstrap().grpcPort();
    }

    /** The admin port ({@code /metrics}, {@code /healthz/ready}, {@code /crl}). */
    public int adminPort() {
        return running().admin().port();
    }

    /** Every trusted root, concatenated PEM (Istio's {@code root-cert.pem}). */
    public String rootsPem() {
        return bootstrap().authority().rootsPem();
    }

    /** Every trusted root, one PEM each. */
    public List<String> rootPems() {
        return bootstrap().authority().rootPems();
    }

    public String trustDomain() {
        return running().config().trustDomain();
    }

    /** A bootstrap token for {@code node}'s ztunnel (minted once per node and cached). */
    public String nodeToken(String node) {
        return nodeTokens.computeIfAbsent(node,
                n -> bootstrap().tokens().createForNode(n, null, "CaServerExtension", "test").token());
    }

    /** A bootstrap token for a control-plane service, e.g. {@code policy} (for TokenReview). */
    public String serviceToken(String service) {
        return serviceTokens.computeIfAbsent(service,
                s -> bootstrap().tokens().createForService(s, null, "CaServerExtension", "test").token());
    }

    /** The test-declared placement; null when placement comes from Kafka. */
    public StaticPlacement placement() {
        if (placement == null) {
            throw new IllegalStateException("placement comes from the Kafka config log in this extension");
        }
        return placement;
    }

    /** A client of this CA (TLS trusting its roots) on {@code vertx}. */
    public CaClient client(Vertx vertx) {
        return new CaClient(vertx, address(), rootsPem());
    }

    public Path stateDir() {
        return stateDir;
    }

    public CaBootstrap bootstrap() {
        return (CaBootstrap) running().service();
    }

    /** The CA's metrics in Prometheus text format. */
    public String metricsText() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            io.prometheus.metrics.expositionformats.ExpositionFormats.init().getPrometheusTextFormatWriter().write(out, running().context().metrics().scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The value of one sample, e.g. {@code metric("ca_certificates_refused_total", "reason", "invalid_san")}. */
    public double metric(String name, String... labels) {
        StringBuilder prefix = new StringBuilder(name);
        if (labels.length > 0) {
            prefix.append('{');
            for (int i = 0; i < labels.length; i += 2) {
                prefix.append(i == 0 ? "" : ",").append(labels[i]).append("=\"").append(labels[i + 1]).append('"');
            }
            prefix.append('}');
        }
        for (String line : metricsText().split("\n")) {
            if (line.startsWith(prefix + " ")) {
                return Double.parseDouble(line.substring(prefix.length() + 1).trim());
            }
        }
        return 0;
    }

    private ServiceLauncher.Running<CaConfig> running() {
        ServiceLauncher.Running<CaConfig> r = running;
        if (r == null) {
            throw new IllegalStateException("ca is not running (register the extension or call start())");
        }
        return r;
    }

    /** How the CA under test is set up. */
    public static final class Builder {
        private StaticPlacement placement = new StaticPlacement();
        private Supplier<String> kafka;
        private Path stateDir;
        private String replica = "test-ca";
        private Clock clock = Clock.systemUTC();
        private final Map<String, String> config = new LinkedHashMap<>();

        /** Declares a workload with {@code identity} on {@code node}. */
        public Builder place(String node, io.jmesh.core.identity.SpiffeId identity) {
            placement.place(node, identity);
            return this;
        }

        /** Uses a Kafka (e.g. {@code kafka::bootstrapServers}): placement from its config log, audit events to it. */
        public Builder kafka(Supplier<String> bootstrapServers) {
            this.kafka = bootstrapServers;
            return this;
        }

        /** Uses this state directory (kept after stop); replicas sharing one directory share one root. */
        public Builder stateDir(Path dir) {
            this.stateDir = dir;
            return this;
        }

        public Builder replica(String name) {
            this.replica = name;
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        /** Sets one configuration key by its YAML path, e.g. {@code config("certificates.maxValidity", "1h")}. */
        public Builder config(String path, String value) {
            config.put(path, value);
            return this;
        }

        public CaServerExtension build() {
            return new CaServerExtension(this);
        }
    }
}
