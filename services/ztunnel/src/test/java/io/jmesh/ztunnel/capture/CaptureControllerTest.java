package io.jmesh.ztunnel.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.admin.Readiness;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The controller's bookkeeping with recorded commands: no root needed (CaptureNetnsTest runs the real ones). */
class CaptureControllerTest {

    @TempDir
    Path dir;
    Vertx vertx;
    PrometheusRegistry metrics;
    Readiness readiness;
    final List<String> scripts = new CopyOnWriteArrayList<>();
    final AtomicBoolean nftFails = new AtomicBoolean();

    final Commands recorded = (cmd, stdin) -> {
        if (cmd.get(0).equals("nft") && !stdin.startsWith("list ")) {
            if (nftFails.get()) {
                throw new Commands.CommandFailure("exit", "nft -f - exited with 1: Error: Could not process rule: "
                        + "No such file or directory");
            }
            scripts.add(stdin);
        }
        return "";
    };

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
        metrics = new PrometheusRegistry();
        readiness = new Readiness();
    }

    @AfterEach
    void stop() {
        vertx.close().await();
    }

    /** Not armed: each test arms it after its first update, as ztunnel does once its listeners are bound. */
    CaptureController controller() {
        return controller(true);
    }

    CaptureController controller(boolean removeOnExit) {
        return new CaptureController(vertx, "node-a", CaptureRulesTest.RULES, new PolicyRouting("ip", 0x111, 133,
                false), recorded, "nft", Duration.ofMillis(50), readiness.register("capture"), metrics, removeOnExit);
    }

    /**
     * By default the rules outlive ztunnel: removed at exit, the node's ambient pods went uncaptured (plaintext, past
     * every policy) until the next ztunnel had its configuration; kept, their traffic is dropped meanwhile.
     */
    @Test
    void byDefaultTheRulesStayWhenZtunnelExits() {
        CaptureController c = controller(false);
        c.update(Mesh.of(dir, """
                  - {uid: a1, name: a1, namespace: ambient, addresses: [10.10.1.11], node: node-a, tunnelProtocol: HBONE}
                """));
        c.arm();
        await().atMost(Duration.ofSeconds(10)).until(readiness::isReady);
        c.close().await();
        assertThat(scripts).singleElement().asString().startsWith("add table inet jmesh");
    }

    @Test
    void installsOnceThenSyncsTheNodesAmbientAddressesAndRemovesOnClose() {
        CaptureController c = controller();
        c.update(Mesh.of(dir, """
                  - {uid: a1, name: a1, namespace: ambient, addresses: [10.10.1.11], node: node-a, tunnelProtocol: HBONE}
                  - {uid: a2, name: a2, namespace: legacy, addresses: [10.10.1.12], node: node-a}
                  - {uid: h1, name: h1, namespace: ambient, addresses: [10.10.0.1], node: node-a, tunnelProtocol: HBONE,
                     networkMode: HOST_NETWORK}
                """));
        assertThat(scripts).as("nothing programmed before arm()").isEmpty();
        c.arm();
        await().atMost(Duration.ofSeconds(10)).until(readiness::isReady);
        // the table and its pods in one transaction: never a moment of empty sets
        assertThat(scripts).hasSize(1);
        assertThat(scripts.get(0)).startsWith("add table inet jmesh")
                .contains("add element inet jmesh ambient4 { 10.10.1.11 }").doesNotContain("10.10.1.12")
                .as("a host-network pod's address is the node's: never captured").doesNotContain("10.10.0.1");

        c.update(Mesh.of(dir, """
                  - {uid: a2, name: a2, namespace: ambient, addresses: [10.10.1.12], node: node-a, tunnelProtocol: HBONE}
                """));
        await().atMost(Duration.ofSeconds(10)).until(() -> scripts.size() == 2);
        assertThat(scripts.get(1)).startsWith("flush set").contains("{ 10.10.1.12 }").doesNotContain("10.10.1.11");

        c.close().await();
        assertThat(scripts.get(scripts.size() - 1)).isEqualTo(CaptureRulesTest.RULES.remove());
    }

    @Test
    void aFailureIsCountedWithItsReasonKeepsReadinessFalseAndIsRetried() {
        nftFails.set(true);
        CaptureController c = controller();
        c.update(Mesh.of(dir, """
                  - {uid: a1, name: a1, namespace: ambient, addresses: [10.10.1.11], node: node-a, tunnelProtocol: HBONE}
                """));
        c.arm();
        await().atMost(Duration.ofSeconds(10)).until(() -> failures("install", "exit") >= 2);
        assertThat(readiness.pending()).containsExactly("capture");
        nftFails.set(false);
        await().atMost(Duration.ofSeconds(10)).until(readiness::isReady);
        assertThat(scripts.get(scripts.size() - 1)).contains("{ 10.10.1.11 }");
        c.close().await();
    }

    double failures(String step, String reason) {
        for (var s : metrics.scrape()) {
            if (s instanceof CounterSnapshot cs && cs.getMetadata().getName().equals("ztunnel_capture_failures")) {
                for (var d : cs.getDataPoints()) {
                    if (step.equals(d.getLabels().get("step")) && reason.equals(d.getLabels().get("reason"))) {
                        return d.getValue();
                    }
                }
            }
        }
        return 0;
    }
}
