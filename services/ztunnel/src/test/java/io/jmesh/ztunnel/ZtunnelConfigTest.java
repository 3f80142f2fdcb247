package io.jmesh.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jmesh.core.config.ConfigException;
import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.netty.util.concurrent.EventExecutor;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ZtunnelConfigTest {

    @TempDir
    Path dir;

    private ZtunnelConfig load(String yaml, Map<String, String> env) throws Exception {
        Path file = dir.resolve("ztunnel.yaml");
        Files.writeString(file, yaml);
        return ConfigLoader.load(ZtunnelConfig.class, "ztunnel", file, env).config();
    }

    @Test
    void twoWorkerThreadsByDefaultAsIstiosZtunnelAndTheLauncherStartsThatMany() throws Exception {
        ZtunnelConfig config = load("logLevel: info\n", Map.of());
        assertThat(config.workerThreads()).isEqualTo(2);
        assertThat(config.ioThreads()).isEqualTo(2);
        Vertx vertx = ServiceLauncher.newVertx(config.ioThreads());
        try {
            int loops = 0;
            for (EventExecutor ignored : ((VertxInternal) vertx).nettyEventLoopGroup()) {
                loops++;
            }
            assertThat(loops).isEqualTo(2);
        } finally {
            vertx.close().await();
        }
    }

    @Test
    void sharedStreamWindowDefaultsToAQuarterMebibyteAndRefusesANegativeSize() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).hbone().sharedStreamWindowBytes()).isEqualTo(262_144);
        assertThat(load("hbone: {sharedStreamWindowBytes: 0}\n", Map.of()).hbone().sharedStreamWindowBytes()).isZero();
        assertThatThrownBy(() -> load("hbone: {sharedStreamWindowBytes: -1}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("sharedStreamWindowBytes: -1 (expected: 0, off, or a size in bytes)");
    }

    @Test
    void workerThreadsComeFromTheFileOrTheEnvironmentAndAreValidated() throws Exception {
        assertThat(load("workerThreads: 4\n", Map.of()).workerThreads()).isEqualTo(4);
        assertThat(load("logLevel: info\n", Map.of("MESH_WORKER_THREADS", "1")).workerThreads()).isEqualTo(1);
        assertThatThrownBy(() -> load("workerThreads: 0\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("workerThreads: 0 (expected: 1..256)");
    }

    @Test
    void fourBlockingThreadsByDefaultAndTheLauncherNeverStartsMore() throws Exception {
        ZtunnelConfig config = load("logLevel: info\n", Map.of());
        assertThat(config.blockingThreads()).isEqualTo(4);
        Vertx vertx = ServiceLauncher.newVertx(config.ioThreads(), config.blockingThreads());
        try {
            // twelve tasks at once, each holding its thread a while: Vert.x's default pool would run them on twelve
            // threads (and keep all twelve)
            java.util.Set<String> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
            List<io.vertx.core.Future<Object>> tasks = new java.util.ArrayList<>();
            for (int i = 0; i < 12; i++) {
                tasks.add(vertx.executeBlocking(() -> {
                    threads.add(Thread.currentThread().getName());
                    Thread.sleep(100);
                    return null;
                }, false));
            }
            io.vertx.core.Future.all(tasks).await(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(threads).hasSize(4);
        } finally {
            vertx.close().await();
        }
    }

    @Test
    void blockingThreadsMustLeaveRoomBesideStalledScrapes() throws Exception {
        assertThat(load("blockingThreads: 3\n", Map.of()).blockingThreads()).isEqualTo(3);
        assertThat(load("logLevel: info\n", Map.of("MESH_BLOCKING_THREADS", "8")).blockingThreads()).isEqualTo(8);
        assertThatThrownBy(() -> load("blockingThreads: 2\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("blockingThreads: 2 (expected: above admin.maxConcurrentScrapes, 2, so that "
                        + "stalled scrapes leave threads for certificate renewals; at most 64)");
        assertThatThrownBy(() -> load("admin: {maxConcurrentScrapes: 6}\n", Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("blockingThreads: 4 (expected: above "
                        + "admin.maxConcurrentScrapes, 6");
        assertThat(load("blockingThreads: 7\nadmin: {maxConcurrentScrapes: 6}\n", Map.of()).blockingThreads())
                .isEqualTo(7);
    }

    @Test
    void inPodModeIsOffByDefaultAndRefusesNodeLevelCaptureAndFloatingPorts() throws Exception {
        ZtunnelConfig.InPod defaults = load("logLevel: info\n", Map.of()).inpod();
        assertThat(defaults.enabled()).isFalse();
        assertThat(defaults.socket()).isEqualTo("/var/run/ztunnel/ztunnel.sock"); // istio-cni's
        assertThat(defaults.socketMark()).isEqualTo(0x539);
        // what the chart's configuration file sets for in-pod mode starts
        ZtunnelConfig chart = load("inpod: {enabled: true, socket: /run/ztunnel/ztunnel.sock}\ncapture: {enabled: false}\n",
                Map.of());
        assertThat(chart.inpod().enabled()).isTrue();
        assertThat(chart.inpod().socket()).isEqualTo("/run/ztunnel/ztunnel.sock");
        assertThatThrownBy(() -> load("listeners: {transparent: true}\ncapture: {enabled: true}\n"
                + "inpod: {enabled: true}\n", Map.of()))
                .hasMessageContaining("inpod.enabled").hasMessageContaining("node-level capture");
        assertThatThrownBy(() -> load("capture: {enabled: false}\nlisteners: {outboundCapture: 0}\n"
                + "inpod: {enabled: true}\n", Map.of()))
                .hasMessageContaining("listeners.outboundCapture: 0 (expected: a fixed port with inpod.enabled)");
    }

    @Test
    void onDemandDiscoveryIsOffByDefaultComesFromTheEnvironmentAndRefusesTheDnsProxy() throws Exception {
        ZtunnelConfig.Discovery defaults = load("logLevel: info\n", Map.of()).discovery();
        assertThat(defaults.onDemand()).isFalse();
        assertThat(defaults.onDemandTimeout()).isEqualTo(java.time.Duration.ofSeconds(5));
        ZtunnelConfig on = load("logLevel: info\n", Map.of("MESH_DISCOVERY_ON_DEMAND", "true",
                "MESH_DISCOVERY_ADDRESS", "policy:15010", "MESH_LISTENERS_DNS", "-1",
                "MESH_DISCOVERY_ON_DEMAND_TIMEOUT", "2s"));
        assertThat(on.discovery().onDemand()).isTrue();
        assertThat(on.discovery().onDemandTimeout()).isEqualTo(java.time.Duration.ofSeconds(2));
        // Istio: XDS_ON_DEMAND and the DNS proxy do not go together (the proxy is on by default here)
        assertThatThrownBy(() -> load("discovery: {address: \"policy:15010\", onDemand: true}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("discovery.onDemand: true and listeners.dns: 15053 are incompatible");
        assertThatThrownBy(() -> load("discovery: {onDemand: true}\nlisteners: {dns: -1}\n", Map.of()))
                .hasMessageContaining("discovery.onDemand: true needs discovery.address");
        assertThatThrownBy(() -> load("discovery: {address: \"policy:15010\", onDemand: true, onDemandTimeout: 0s}\n"
                + "listeners: {dns: -1}\n", Map.of()))
                .hasMessageContaining("discovery.onDemandTimeout");
    }

    @Test
    void controlPlaneKeepaliveIsIstiosByDefaultComesFromTheEnvironmentAndMustBePositive() throws Exception {
        ZtunnelConfig defaults = load("logLevel: info\n", Map.of());
        assertThat(defaults.discovery().keepalive()).isEqualTo(new io.jmesh.core.grpc.Http2Liveness.Settings(
                java.time.Duration.ofSeconds(30), java.time.Duration.ofSeconds(10)));
        assertThat(defaults.identity().keepalive()).isEqualTo(defaults.discovery().keepalive());
        assertThat(load("logLevel: info\n", Map.of("MESH_IDENTITY_KEEPALIVE_INTERVAL", "5s"))
                .identity().keepaliveInterval()).isEqualTo(java.time.Duration.ofSeconds(5));
        assertThatThrownBy(() -> load("discovery: {keepaliveTimeout: 0s}\n", Map.of()))
                .hasMessageContaining("discovery.keepaliveTimeout: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load("identity: {keepaliveInterval: -1s}\n", Map.of()))
                .hasMessageContaining("identity.keepaliveInterval");
    }

    @Test
    void csrTimeoutIsThirtySecondsByDefaultComesFromTheEnvironmentAndMustBePositive() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).identity().csrTimeout())
                .isEqualTo(java.time.Duration.ofSeconds(30));
        assertThat(load("logLevel: info\n", Map.of("MESH_IDENTITY_CSR_TIMEOUT", "5s")).identity().csrTimeout())
                .isEqualTo(java.time.Duration.ofSeconds(5));
        assertThatThrownBy(() -> load("identity: {csrTimeout: 0s}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("identity.csrTimeout: PT0S (expected: > 0)");
    }

    @Test
    void tcpKeepaliveHasIstiosTimingsByDefaultAndRefusesWhatLinuxCannotTake() throws Exception {
        ZtunnelConfig.Tcp tcp = load("logLevel: info\n", Map.of()).tcp();
        assertThat(tcp.keepalive()).isTrue();
        assertThat(tcp.keepaliveTime()).isEqualTo(java.time.Duration.ofSeconds(180));
        assertThat(tcp.keepaliveInterval()).isEqualTo(java.time.Duration.ofSeconds(180));
        assertThat(tcp.keepaliveRetries()).isEqualTo(9);
        assertThat(tcp.userTimeout()).isFalse();
        assertThat(load("logLevel: info\n", Map.of("MESH_TCP_KEEPALIVE_TIME", "30s", "MESH_TCP_USER_TIMEOUT", "true"))
                .tcp().userTimeoutMillis()).isEqualTo(30_000 + 9 * 180_000);
        assertThatThrownBy(() -> load("tcp: {keepaliveTime: 1500ms}\n", Map.of()))
                .hasMessageContaining("tcp.keepaliveTime: 1500ms (expected: whole seconds, 1s..32767s)");
        assertThatThrownBy(() -> load("tcp: {keepaliveInterval: 10h}\n", Map.of()))
                .hasMessageContaining("tcp.keepaliveInterval");
        assertThatThrownBy(() -> load("tcp: {keepaliveRetries: 0}\n", Map.of()))
                .hasMessageContaining("tcp.keepaliveRetries: 0 (expected: 1..127)");
        assertThatThrownBy(() -> load("tcp: {keepalive: false, userTimeout: true}\n", Map.of()))
                .hasMessageContaining("tcp.userTimeout: true needs tcp.keepalive: true");
    }

    @Test
    void captureAndInPodTimingsMustBePositive() throws Exception {
        // zero would never retry (a Vert.x timer needs >= 1 ms; SO_RCVTIMEO 0 waits for ever) or time out every
        // nft/ip call at once: refused by name rather than leaving capture or a pending pod silently stuck
        assertThatThrownBy(() -> load("capture: {retryInterval: 0s}\n", Map.of()))
                .hasMessageContaining("capture.retryInterval: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load("capture: {commandTimeout: 0s}\n", Map.of()))
                .hasMessageContaining("capture.commandTimeout: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load("inpod: {retryInterval: 0s}\n", Map.of()))
                .hasMessageContaining("inpod.retryInterval: PT0S (expected: > 0)");
    }

    @Test
    void theProgressIntervalIsSixtySecondsByDefaultAndHasNoOff() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).telemetry().progressInterval())
                .isEqualTo(java.time.Duration.ofSeconds(60));
        assertThat(load("logLevel: info\n", Map.of("MESH_TELEMETRY_PROGRESS_INTERVAL", "15s")).telemetry()
                .progressInterval()).isEqualTo(java.time.Duration.ofSeconds(15));
        // 0 is no "off": a connection's bytes would again reach the telemetry service only at its close
        assertThatThrownBy(() -> load("telemetry: {progressInterval: 0s}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("telemetry.progressInterval: PT0S (expected: > 0)");
        assertThatThrownBy(() -> load("telemetry: {progressInterval: -5s}\n", Map.of()))
                .hasMessageContaining("'telemetry.progressInterval': cannot read '-5s'");
        assertThatThrownBy(() -> load("telemetry: {progressInterval: }\n", Map.of()))
                .hasMessageContaining("telemetry.progressInterval").hasMessageContaining("expected");
        assertThat(load("logLevel: info\n", Map.of()).telemetry().seriesIdleWindow())
                .isEqualTo(java.time.Duration.ofHours(1));
        assertThat(load("telemetry: {seriesIdleWindow: 10m}\n", Map.of()).telemetry().seriesIdleWindow())
                .isEqualTo(java.time.Duration.ofMinutes(10));
        assertThatThrownBy(() -> load("telemetry: {seriesIdleWindow: 0s}\n", Map.of()))
                .hasMessageContaining("telemetry.seriesIdleWindow: PT0S (expected: > 0)");
        assertThat(load("logLevel: info\n", Map.of()).telemetry().rejectionLog())
                .isEqualTo(new ZtunnelConfig.RejectionLog(20, java.time.Duration.ofSeconds(10)));
        assertThatThrownBy(() -> load("telemetry: {rejectionLog: {linesPerInterval: 0}}\n", Map.of()))
                .hasMessageContaining("telemetry.rejectionLog.linesPerInterval: 0 (expected: >= 1)");
        assertThatThrownBy(() -> load("telemetry: {rejectionLog: {interval: 0s}}\n", Map.of()))
                .hasMessageContaining("telemetry.rejectionLog.interval: PT0S (expected: > 0)");
    }

    @Test
    void removedMetricLabelsAreIstiosLabelsOtherThanReporter() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).telemetry().removeLabels()).isEmpty();
        assertThat(load("telemetry: {removeLabels: [source_principal, destination_principal]}\n", Map.of())
                .telemetry().removeLabels()).containsExactly("source_principal", "destination_principal");
        assertThatThrownBy(() -> load("telemetry: {removeLabels: [source_principal, pod_name]}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("telemetry.removeLabels: 'pod_name' is not a label of the istio_tcp_* metrics")
                .hasMessageContaining("source_workload");
        assertThatThrownBy(() -> load("telemetry: {removeLabels: [reporter]}\n", Map.of()))
                .hasMessageContaining("telemetry.removeLabels: 'reporter' cannot be removed");
    }

    @Test
    void theSocksHandshakeTimeoutIsTenSecondsByDefaultAndPositive() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).socks5().handshakeTimeout())
                .isEqualTo(java.time.Duration.ofSeconds(10));
        assertThat(load("logLevel: info\n", Map.of("MESH_SOCKS5_HANDSHAKE_TIMEOUT", "2s")).socks5()
                .handshakeTimeout()).isEqualTo(java.time.Duration.ofSeconds(2));
        assertThatThrownBy(() -> load("socks5: {handshakeTimeout: 0s}\n", Map.of()))
                .hasMessageContaining("socks5.handshakeTimeout");
    }

    @Test
    void theDualStackAddressIsTheOtherFamilysAlsoFromKubernetesHostIps() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).node().dualStackAddress()).isEmpty();
        assertThat(load("node: {address: 10.0.0.1, dualStackAddress: \"fd00::1\"}\n", Map.of()).node()
                .dualStackAddress()).isEqualTo("fd00::1");
        // status.hostIPs, as the chart passes it: the primary address first, then the other family's, if any
        assertThat(load("node: {address: 10.0.0.1}\n", Map.of("MESH_NODE_DUAL_STACK_ADDRESS", "10.0.0.1,fd00::1"))
                .node().dualStackAddress()).isEqualTo("fd00::1");
        assertThat(load("node: {address: \"fd00::1\"}\n", Map.of("MESH_NODE_DUAL_STACK_ADDRESS", "fd00::1,10.0.0.1"))
                .node().dualStackAddress()).isEqualTo("10.0.0.1");
        assertThat(load("node: {address: 10.0.0.1}\n", Map.of("MESH_NODE_DUAL_STACK_ADDRESS", "10.0.0.1"))
                .node().dualStackAddress()).as("a single-stack node").isEmpty();
        assertThatThrownBy(() -> load("node: {dualStackAddress: \"10.0.0.1,somehost\"}\n", Map.of()))
                .hasMessageContaining("node.dualStackAddress: 'somehost' (expected: IP addresses");
    }

    @Test
    void dnsTimeoutsMustBePositive() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).dns().tcpIdleTimeout())
                .isEqualTo(java.time.Duration.ofSeconds(10));
        // zero would switch the idle timer off: idle TCP clients held forever
        assertThatThrownBy(() -> load("dns: {tcpIdleTimeout: 0s}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("dns.tcpIdleTimeout: PT0S (expected: > 0)");
        // zero would fail every forwarded query at once (SERVFAIL for any name outside the mesh)
        assertThatThrownBy(() -> load("dns: {upstreamTimeout: 0s}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("dns.upstreamTimeout: PT0S (expected: > 0)");
    }

    @Test
    void dnsMaxTcpConnectionsIs150ByDefaultComesFromTheEnvironmentAndMustBePositive() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).dns().maxTcpConnections()).isEqualTo(150);
        assertThat(load("logLevel: info\n", Map.of("MESH_DNS_MAX_TCP_CONNECTIONS", "20")).dns().maxTcpConnections())
                .isEqualTo(20);
        assertThatThrownBy(() -> load("dns: {maxTcpConnections: 0}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("dns.maxTcpConnections: 0 (expected: > 0)");
    }

    @Test
    void dnsMaxTcpConnectionsPerClientIs32ByDefaultAndMustBePositive() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).dns().maxTcpConnectionsPerClient()).isEqualTo(32);
        assertThat(load("logLevel: info\n", Map.of("MESH_DNS_MAX_TCP_CONNECTIONS_PER_CLIENT", "4")).dns()
                .maxTcpConnectionsPerClient()).isEqualTo(4);
        assertThatThrownBy(() -> load("dns: {maxTcpConnectionsPerClient: 0}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("dns.maxTcpConnectionsPerClient: 0 (expected: > 0)");
    }

    @Test
    void dnsUpstreamConcurrencyIsTwoAsIstiosForwarderAndBounded() throws Exception {
        assertThat(load("logLevel: info\n", Map.of()).dns().upstreamConcurrency()).isEqualTo(2);
        assertThat(load("dns: {upstreamConcurrency: 1}\n", Map.of()).dns().upstreamConcurrency()).isEqualTo(1);
        assertThatThrownBy(() -> load("dns: {upstreamConcurrency: 0}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("dns.upstreamConcurrency: 0 (expected: > 0)");
        assertThatThrownBy(() -> load("dns: {upstreamConcurrency: 17}\n", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("dns.upstreamConcurrency: 17 (expected: at most 16");
    }
}
