package io.jmesh.ztunnel.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.admin.Readiness;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reconnecting to the CNI node agent backs off, as Istio's workload manager does, also when the agent accepts the
 * connection and then drops it at once (an agent restarting, or something else answering on its socket): ztunnel
 * must not spin, reconnecting and logging thousands of times a second. Any user; needs python3 for the agent.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NodeAgentReconnectTest {

    /** Accepts, reads ztunnel's hello, closes; counts the connections of the window seconds after the first. */
    static final String DROPPING_AGENT = """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen(64)
            print("listening", flush=True)
            s.settimeout(20); c, _ = s.accept(); c.recv(4096); c.close()
            n, end = 1, time.monotonic() + float(sys.argv[2])
            while True:
                left = end - time.monotonic()
                if left <= 0: break
                s.settimeout(left)
                try: c, _ = s.accept()
                except socket.timeout: break
                c.recv(4096); c.close(); n += 1
            print(n, flush=True)
            """;

    @TempDir
    Path dir;

    @Test
    void anAgentThatDropsEveryConnectionIsRetriedWithBackoffNotInATightLoop() throws Exception {
        Assumptions.assumeTrue(InPodNetnsTest.run("python3", "--version").ok(), "python3 is not installed");
        Path socket = dir.resolve("agent.sock");
        Process agent = new ProcessBuilder("python3", "-c", DROPPING_AGENT, socket.toString(), "1.0")
                .redirectErrorStream(true).start();
        PrometheusRegistry metrics = new PrometheusRegistry();
        PodProxies pods = new PodProxies(new PodProxy.Node(null, null, null, null, null, null, null, null, null, null),
                metrics, () -> {});
        NodeAgentLink link = new NodeAgentLink(socket.toString(), pods, new Readiness().register("w"),
                Duration.ofSeconds(1), metrics);
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(agent.getInputStream(),
                    StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("listening");
            link.start();
            String count = out.readLine();
            assertThat(count).as("agent output").isNotNull().matches("\\d+");
            // backing off from 10 ms, doubling: 7 connections in the first second (fewer on a slow machine); a
            // reconnect without any pause makes thousands
            assertThat(Integer.parseInt(count)).as("connections within 1 s of the first").isLessThanOrEqualTo(15);
        } finally {
            link.stop();
            agent.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }
}
