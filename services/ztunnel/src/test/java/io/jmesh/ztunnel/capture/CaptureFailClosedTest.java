package io.jmesh.ztunnel.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.admin.Readiness;
import io.jmesh.testing.netns.Netns;
import io.jmesh.testing.netns.TwoNodeLab;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An ambient pod's traffic never leaves the mesh because ztunnel's listeners are missing (a ztunnel that crashed,
 * is draining, or has not bound yet): nftables' {@code tproxy} only falls through to the next rule when it finds
 * no listener, and without a rule after it the packet was routed on as it was, in plaintext, past every
 * AuthorizationPolicy. Real {@code nft} in the netns lab, real pods, no ztunnel listening (root only).
 */
class CaptureFailClosedTest {

    /** A TCP server that greets each client; bounded: it stops after 20 clients or 2 minutes without one. */
    static final String SERVER = "import socket\n"
            + "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            + "s.bind(('0.0.0.0', 9000)); s.listen(16); s.settimeout(120)\n"
            + "for _ in range(20):\n"
            + "    c, _a = s.accept(); c.sendall(b'hi'); c.close()\n";
    /** Prints "connected hi", or "failed" and why (a dropped SYN times out after 3 s). */
    static final String CLIENT = "import socket, sys\n"
            + "try:\n"
            + "    s = socket.create_connection((sys.argv[1], 9000), timeout=3)\n"
            + "    print('connected', s.recv(2).decode())\n"
            + "except socket.timeout:\n"
            + "    print('failed timeout')\n"
            + "except OSError as e:\n"
            + "    print('failed', type(e).__name__)\n";

    @TempDir
    Path dir;
    TwoNodeLab lab;
    Vertx vertx;
    CaptureController capture;

    @BeforeEach
    void lab() {
        String reason = CaptureNetnsTest.unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        lab = TwoNodeLab.create(dir);
        vertx = Vertx.vertx();
    }

    @AfterEach
    void close() {
        if (capture != null) {
            capture.close().await();
        }
        if (vertx != null) {
            vertx.close().await();
        }
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    void withoutListenersAnAmbientPodsConnectionsAreDroppedNotPassedThrough() {
        lab.podB1().start(dir.resolve("server-b1.log"), "python3", "-u", "-c", SERVER);
        lab.podA1().start(dir.resolve("server-a1.log"), "python3", "-u", "-c", SERVER);
        String b1 = TwoNodeLab.address("pod-b1");
        String a1 = TwoNodeLab.address("pod-a1");
        // the lab routes pod to pod before any rule exists (the servers may need a moment to listen)
        await().atMost(Duration.ofSeconds(20)).until(() -> connect(lab.podA1(), b1).equals("connected hi"));

        Readiness readiness = new Readiness();
        capture = new CaptureController(vertx, "node-a", new CaptureRules(new CaptureRules.Settings("jmesh", 0x539,
                0x111, "br0", 15001, 15008, 15006, 0, null)), new PolicyRouting("ip", 0x111, 133, true),
                inNamespace(lab.nodeA()), "nft", Duration.ofSeconds(10), readiness.register("capture"),
                new PrometheusRegistry(), true);
        capture.arm();
        capture.update(Mesh.of(dir, "  - {uid: a1, name: a1, namespace: ambient, addresses: [" + a1
                + "], node: node-a, tunnelProtocol: HBONE}\n"));
        await().atMost(Duration.ofSeconds(20)).until(readiness::isReady);

        // nothing listens on node-a's 15001 or 15006: pod-a1's traffic is captured and goes nowhere
        assertThat(connect(lab.podA1(), b1)).as("outbound from the ambient pod").isEqualTo("failed timeout");
        assertThat(connect(lab.podB1(), a1)).as("inbound to the ambient pod").isEqualTo("failed timeout");
        // a pod outside the mesh is untouched
        assertThat(connect(lab.podA2(), b1)).isEqualTo("connected hi");
    }

    private static String connect(Netns from, String to) {
        return from.tryRun("python3", "-c", CLIENT, to).output().strip();
    }

    private static Commands inNamespace(Netns ns) {
        return (cmd, stdin) -> {
            List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns.name()));
            full.addAll(cmd);
            return Commands.processes(Duration.ofSeconds(10)).run(full, stdin);
        };
    }
}
