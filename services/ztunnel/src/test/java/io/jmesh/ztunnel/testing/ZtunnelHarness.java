package io.jmesh.ztunnel.testing;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.ztunnel.ZtunnelBootstrap;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One in-process ztunnel (its own Vert.x, like its own process) configured by a YAML snippet merged over the
 * shipped defaults, exactly as the launcher does.
 */
public final class ZtunnelHarness implements AutoCloseable {

    public final ServiceLauncher.Running<ZtunnelConfig> running;
    public final ZtunnelBootstrap ztunnel;
    public final Vertx vertx;

    private ZtunnelHarness(ServiceLauncher.Running<ZtunnelConfig> running) {
        this.running = running;
        this.ztunnel = (ZtunnelBootstrap) running.service();
        this.vertx = running.context().vertx();
    }

    /** Loads {@code yaml} over the defaults and starts; {@code collaborators} may be null. */
    public static ZtunnelHarness start(Path dir, String name, String yaml,
            ZtunnelBootstrap.Collaborators collaborators) throws Exception {
        Path file = dir.resolve(name + ".yaml");
        Files.writeString(file, yaml);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", file, Map.of()).config();
        Vertx vertx = ServiceLauncher.newVertx(config.ioThreads());
        try {
            var running = ServiceLauncher.start(config, vertx, (c, ctx) -> new ZtunnelBootstrap(c, ctx, collaborators))
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            return new ZtunnelHarness(running);
        } catch (Exception e) {
            // a half-started node (some listeners bound) must not outlive its failed test and hold its addresses
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            throw e;
        }
    }

    /** A config snippet for a node in local mode, with test-friendly ports (0 = any, -1 = off). */
    public static String localNode(String node, String address, String staticFile, int caPort, Path tokenFile,
            String extra) throws IOException {
        return localNode(node, address, "{staticFile: \"" + staticFile + "\"}", null, caPort, tokenFile, extra);
    }

    /**
     * The same with any discovery (the {@code discovery:} map, e.g. a policy address) and DNS proxy port ({@code -1}
     * off; null: the default).
     */
    public static String localNode(String node, String address, String discovery, Integer dns, int caPort,
            Path tokenFile, String extra) {
        return """
                logLevel: info
                drainDeadline: 5s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: %s, address: %s}
                listeners: {hbone: 15008, inboundPlaintext: -1, outboundCapture: -1, socks5: 0, localAdmin: 0,
                            readiness: 0,%s inboundPerWorkload: true, transparent: false}
                discovery: %s
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                pool: {idleTimeout: 5m}
                %s
                """.formatted(node, address, dns == null ? "" : " dns: " + dns + ",", discovery, caPort, tokenFile,
                extra == null ? "" : extra);
    }

    public InetSocketAddress socks() {
        return ztunnel.outbound().socks5Address();
    }

    /** One sample of this ztunnel's metrics, e.g. {@code metric("x_total", "reason", "revoked")}; 0 if absent. */
    public double metric(String name, String... labels) {
        StringBuilder prefix = new StringBuilder(name);
        if (labels.length > 0) {
            prefix.append('{');
            for (int i = 0; i < labels.length; i += 2) {
                prefix.append(i == 0 ? "" : ",").append(labels[i]).append("=\"").append(labels[i + 1]).append('"');
            }
            prefix.append('}');
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            io.prometheus.metrics.expositionformats.ExpositionFormats.init().getPrometheusTextFormatWriter()
                    .write(out, running.context().metrics().scrape());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        for (String line : out.toString(java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
            if (line.startsWith(prefix + " ")) {
                return Double.parseDouble(line.substring(prefix.length() + 1).trim());
            }
        }
        return 0;
    }

    /** The sum of every series of {@code name} whose labels contain each of {@code fragments} (e.g. {@code a="b"}). */
    public double metricSum(String name, String... fragments) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            io.prometheus.metrics.expositionformats.ExpositionFormats.init().getPrometheusTextFormatWriter()
                    .write(out, running.context().metrics().scrape());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        double sum = 0;
        for (String line : out.toString(java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
            if (line.startsWith(name + "{") && java.util.Arrays.stream(fragments).allMatch(line::contains)) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    public boolean ready() {
        return running.context().readiness().isReady();
    }

    @Override
    public void close() throws Exception {
        running.shutdown(Duration.ofSeconds(2));
    }
}
