package io.jmesh.ztunnel.inpod;

import static io.jmesh.ztunnel.inpod.InPodNetnsTest.inPod;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.netns.IstioCni;
import io.jmesh.ztunnel.telemetry.ClosedEvents;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.testing.LocalNodeSetup;
import io.jmesh.ztunnel.testing.TcpStates;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import io.vertx.core.Vertx;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * In-pod mode's shutdown with a plaintext connection still being set up (root only; skipped with the reason
 * elsewhere): pod A sends plaintext (marked, so its own capture lets it out) to pod B, whose rules hand it to
 * ztunnel's 15006 listener in pod B; ztunnel's connect to the application hangs, the application's accept queue
 * being full. Close ends it as it ends every connection still being set up: one access-log line and one CLOSED in
 * Kafka as Istio's {@code ClosedFromDrain}, no refusal counted, nothing lost, and pod A's client sees its connection
 * end.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class InPodShutdownTest {

    static final String TAG = Long.toHexString(ProcessHandle.current().pid());
    static final String POD_A = "jmsa" + TAG;
    static final String POD_B = "jmsb" + TAG;
    static final String IP_A = "10.252.1.1";
    static final String IP_B = "10.252.1.2";
    static final int STUCK_PORT = 9090;

    /**
     * In pod B: a listener on argv[1] whose accept queue is full (filled over loopback, which pod B's rules leave
     * alone), so the kernel drops every further SYN; prints "full", then holds everything for two minutes.
     */
    static final String NEVER_ACCEPTING = """
            import socket, sys, time
            port = int(sys.argv[1])
            s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", port)); s.listen(1)
            held = []
            for _ in range(16):
                f = socket.socket(); f.settimeout(0.3)
                try:
                    f.connect(("127.0.0.1", port)); held.append(f)
                except socket.timeout:
                    f.close(); print("full", flush=True); break
            time.sleep(120)
            """;

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @TempDir
    static Path dir;
    static Vertx vertx;
    static IstioCni.Agent agent;
    static PodPair pods;
    static final List<Process> processes = new ArrayList<>();

    @BeforeAll
    static void lab() throws Exception {
        String reason = PodPair.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        kafka.createTopic(ConnectionTelemetry.TOPIC, 1, false);
        pods = PodPair.create(POD_A, POD_B, IP_A, IP_B, null, null, dir.resolve("app.log"));
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void cleanUp() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        PodPair.tearDown(pods, POD_A, POD_B, vertx, agent);
    }

    @Test
    void aPlaintextConnectionWhoseApplicationConnectIsUnderWayAtCloseIsLoggedAndPublishedAsClosedFromDrain()
            throws Exception {
        String node = "node-" + TAG;
        LocalNodeSetup setup = LocalNodeSetup.start(vertx, dir);
        Path mesh = setup.mesh("""
                workloads:
                  - {uid: "Kubernetes//Pod/default/pod-a", name: pod-a, namespace: default, serviceAccount: a,
                     addresses: [%s], node: %s, tunnelProtocol: HBONE}
                  - {uid: "Kubernetes//Pod/default/pod-b", name: pod-b, namespace: default, serviceAccount: b,
                     addresses: [%s], node: %s, tunnelProtocol: HBONE}
                """.formatted(IP_A, node, IP_B, node));
        agent = new IstioCni.Agent(dir.resolve("ztunnel.sock"), dir);
        ZtunnelHarness ztunnel = ZtunnelHarness.start(dir, "ztunnel", """
                logLevel: info
                admin: {host: 127.0.0.1, port: 0}
                node: {name: %s, address: 127.0.145.1}
                listeners: {hbone: 15008, inboundPlaintext: 15006, outboundCapture: 15001, socks5: -1, localAdmin: 0,
                            readiness: 0, dns: 15053, inboundPerWorkload: false, transparent: false}
                dns: {upstreams: ["127.0.0.1:9"], upstreamTimeout: 200ms, upstreamAttempts: 1}
                hbone: {connectTimeout: 2m}
                discovery: {staticFile: "%s"}
                identity: {caAddress: "127.0.0.1:%d", tokenFile: "%s"}
                inpod: {enabled: true, socket: "%s", retryInterval: 1s}
                kafka: {bootstrapServers: "%s"}
                telemetry: {progressInterval: 1h}
                """.formatted(node, mesh, setup.caPort(), setup.token(), dir.resolve("ztunnel.sock"),
                kafka.bootstrapServers()), null);
        ClosedEvents.AccessLog lines = new ClosedEvents.AccessLog();
        Process client;
        try {
            assertThat(agent.event().getInteger("conn")).isEqualTo(1);
            assertThat(agent.add("uid-a", "/var/run/netns/" + POD_A, "pod-a", "default", "a")).isEmpty();
            assertThat(agent.add("uid-b", "/var/run/netns/" + POD_B, "pod-b", "default", "b")).isEmpty();
            assertThat(agent.snapshot()).isEmpty();
            await().atMost(Duration.ofSeconds(30)).until(ztunnel::ready);

            Process stuck = process(POD_B, NEVER_ACCEPTING, String.valueOf(STUCK_PORT));
            assertThat(new BufferedReader(new InputStreamReader(stuck.getInputStream(), StandardCharsets.UTF_8))
                    .readLine()).as("pod B's application, its accept queue filled").isEqualTo("full");
            lines.start();
            // marked 0x539: pod A's rules let it out uncaptured, pod B's hand it to 15006
            client = process(POD_A, InPodNetnsTest.CLIENT, IP_B, String.valueOf(STUCK_PORT), "never answered", "1");
            // ztunnel's connect to the application, from pod A's address inside pod B: its SYN sent, unanswered
            await().atMost(Duration.ofSeconds(15)).until(() -> TcpStates.synSentIn(
                    inPod(POD_B, "cat", "/proc/net/tcp", "/proc/net/tcp6"), IP_B, STUCK_PORT));
        } finally {
            ztunnel.close();
            lines.close();
        }

        List<ConnectionEvent> closed = ClosedEvents.of(kafka, node, 1);
        assertThat(closed).as("CLOSED events in Kafka").extracting(ConnectionEvent::getReporter,
                ConnectionEvent::getError, ConnectionEvent::getResponseFlags).containsExactly(
                        Tuple.tuple(Reporter.DESTINATION, ConnectionTelemetry.CLOSED_FROM_DRAIN, ""));
        List<String> complete = lines.complete().stream().map(l -> l.getKeyValuePairs().stream()
                .filter(p -> List.of("direction", "error", "response_flags").contains(p.key))
                .map(p -> p.key + "=" + p.value).sorted().toList().toString()).toList();
        assertThat(complete).as("the access-log lines written by close").containsExactly(
                "[direction=inbound, error=" + ConnectionTelemetry.CLOSED_FROM_DRAIN + ", response_flags=-]");
        assertThat(ztunnel.metric("ztunnel_connection_closes_lost_total")).isZero();
        assertThat(ztunnel.metricSum("ztunnel_connection_rejections_total"))
                .as("an attempt ztunnel ended itself is no refusal").isZero();
        assertThat(client.waitFor(15, TimeUnit.SECONDS)).as("pod A's client sees its connection end").isTrue();
    }

    static Process process(String pod, String script, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", pod, "python3", "-c", script));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        processes.add(p);
        return p;
    }
}
