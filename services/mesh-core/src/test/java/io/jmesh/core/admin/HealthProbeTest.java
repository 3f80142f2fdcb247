package io.jmesh.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The healthcheck main of the images, against a real admin server. */
@Timeout(60)
class HealthProbeTest {

    private final Readiness readiness = new Readiness();
    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8);
    private Vertx vertx;
    private AdminServer server;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        server = AdminServer.builder(vertx).host("127.0.0.1").port(0).readiness(readiness)
                .metrics(new PrometheusRegistry()).build()
                .start().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void exitsOneWhileAStartupTaskIsPendingAndZeroOnceReady() {
        Readiness.Task config = readiness.register("config");
        assertThat(HealthProbe.run(new String[] {ready()}, out)).isEqualTo(1);
        assertThat(text()).contains("not ready").contains("HTTP 503");
        config.complete();
        assertThat(HealthProbe.run(new String[] {ready(), "5s"}, out)).isZero();
        assertThat(text()).contains("ok " + ready() + ": HTTP 200");
    }

    @Test
    void aClosedPortIsUnreachable() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = s.getLocalPort();
        }
        assertThat(HealthProbe.run(new String[] {"http://127.0.0.1:" + port + "/healthz/ready"}, out)).isEqualTo(1);
        assertThat(text()).contains("unreachable");
    }

    @Test
    void aServerThatNeverAnswersFailsAfterTheTimeout() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            Thread acceptor = new Thread(() -> {
                try (Socket ignored = silent.accept()) {
                    ignored.getInputStream().readAllBytes();   // holds the connection open, answers nothing
                } catch (Exception e) {
                    // closed by the test
                }
            });
            acceptor.start();
            int code = HealthProbe.probe(URI.create("http://127.0.0.1:" + silent.getLocalPort() + "/"),
                    Duration.ofMillis(300), out);
            assertThat(code).isEqualTo(1);
            assertThat(text()).contains("unreachable").containsIgnoringCase("timed out");
        }
    }

    @Test
    void badArgumentsExitTwoWithTheReason() {
        assertThat(HealthProbe.run(new String[] {}, out)).isEqualTo(2);
        assertThat(HealthProbe.run(new String[] {"https://127.0.0.1/x"}, out)).isEqualTo(2);
        assertThat(HealthProbe.run(new String[] {ready(), "soon"}, out)).isEqualTo(2);
        assertThat(text()).contains("usage").contains("expected an http:// URL").contains("duration: 'soon'");
    }

    @Test
    void theMainRunsInItsOwnJvmWithOnlyTheJdkAndMeshCoreAndReportsByExitCode() throws Exception {
        // as a container healthcheck runs it: a fresh JVM; only this module's classes on the class path
        String classes = Path.of(HealthProbe.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        assertThat(runMain(java, classes, ready())).isZero();
        readiness.register("certificates");
        assertThat(runMain(java, classes, ready())).isEqualTo(1);
    }

    private static int runMain(String java, String classes, String url) throws Exception {
        Process p = new ProcessBuilder(List.of(java, "-XX:+UseSerialGC", "-Xmx32m", "-cp", classes,
                HealthProbe.class.getName(), url)).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return p.exitValue();
    }

    private String ready() {
        return "http://127.0.0.1:" + server.port() + "/healthz/ready";
    }

    private String text() {
        return output.toString(StandardCharsets.UTF_8);
    }
}
