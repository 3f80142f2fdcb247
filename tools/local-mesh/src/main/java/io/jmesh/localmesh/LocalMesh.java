package io.jmesh.localmesh;

import io.jmesh.kafkalocal.LocalKafka;
import io.jmesh.localmesh.run.Component;
import io.jmesh.localmesh.run.Layout;
import io.jmesh.localmesh.run.MeshPlan;
import io.jmesh.localmesh.run.Supervisor;
import io.jmesh.localmesh.run.Table;
import io.jmesh.localmesh.run.Topology;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import sun.misc.Signal;

/**
 * {@code make run}: a real Kafka broker, ca, policy, telemetry, waypoint-mgr, two ztunnels (node-a, node-b)
 * and the demo workloads, each its own process on its own loopback address; prints a table of what runs where
 * with copy-paste commands, then {@code mesh ready}; Ctrl-C or SIGTERM stops everything.
 *
 * <p>State lives under {@code --state-dir} (default {@code .mesh/}): the broker's data, the CA's root of trust
 * ({@code .mesh/ca/}), node tokens, certificates, configuration files and logs. A second run reuses it.
 *
 * <p>Options: {@code --repo <dir>} (default {@code .}), {@code --state-dir <dir>}, {@code --manifests <dir>} (what
 * policy serves; default the repository's {@code demo/manifests}, which it watches: files written there while the
 * mesh runs are applied), {@code --exit-when-ready} (start, print, stop: for smoke checks).
 */
public final class LocalMesh {

    /** Generous on purpose: a 2-core machine starting seven JVMs at once is busy for a while. */
    private static final Duration READY_DEADLINE = Duration.ofSeconds(120);

    private LocalMesh() {}

    public static void main(String[] args) throws Exception {
        Path repo = Path.of(".");
        Path state = null;
        Path manifests = null;
        boolean exitWhenReady = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repo" -> repo = Path.of(args[++i]);
                case "--state-dir" -> state = Path.of(args[++i]);
                case "--manifests" -> manifests = Path.of(args[++i]);
                case "--exit-when-ready" -> exitWhenReady = true;
                default -> {
                    System.err.println("local-mesh: unknown argument " + args[i]
                            + " (expected: --repo <dir>, --state-dir <dir>, --manifests <dir>, --exit-when-ready)");
                    System.exit(2);
                }
            }
        }
        repo = repo.toAbsolutePath().normalize();
        state = (state == null ? repo.resolve(".mesh") : state).toAbsolutePath().normalize();
        Topology topology = Topology.local(repo);
        if (manifests != null) {
            topology = topology.withManifests(manifests.toAbsolutePath().normalize());
        }
        System.exit(run(new MeshPlan(repo, state, topology), state, exitWhenReady, System.out));
    }

    static int run(MeshPlan plan, Path state, boolean exitWhenReady, PrintStream out) throws Exception {
        String missing = plan.missingJars();
        if (missing != null) {
            out.println("local-mesh: " + missing + " is not built; run `make build` (make run does it for you)");
            return 1;
        }
        Files.createDirectories(state);
        // Ctrl-C / SIGTERM: stop everything, then exit 0. During start-up the signal interrupts the start.
        CountDownLatch stopRequested = new CountDownLatch(1);
        Thread main = Thread.currentThread();
        AtomicBoolean starting = new AtomicBoolean(true);
        for (String name : List.of("TERM", "INT")) {
            Signal.handle(new Signal(name), sig -> {
                stopRequested.countDown();
                if (starting.get()) {
                    main.interrupt();
                }
            });
        }
        try (Supervisor sup = new Supervisor(state.resolve("logs"), out);
                LocalKafka kafka = LocalKafka.builder().dataDir(state.resolve("kafka")).host(Layout.KAFKA)
                        .port(Layout.KAFKA_PORT).controllerPort(Layout.KAFKA_CONTROLLER_PORT).build()) {
            try {
                sup.progress("state in %s (a second run reuses it)", state);
                sup.progress("starting Kafka (KRaft, single node) on %s:%d", Layout.KAFKA, Layout.KAFKA_PORT);
                CompletableFuture<Void> kafkaUp = CompletableFuture.runAsync(() -> {
                    kafka.start();
                    sup.progress("ready   kafka");
                });
                plan.prepareCredentials(sup);          // meanwhile: tokens and certificates need no broker
                kafkaUp.join();
                // Everything at once: ztunnels retry until ca and policy answer, and are ready only once they
                // have their certificates and the first full configuration.
                List<Component> started = new ArrayList<>(plan.controlPlane());
                started.addAll(plan.dataPlane());
                sup.startAll(started, READY_DEADLINE);
                starting.set(false);

                out.println();
                out.print(Table.render(started, state));
                out.println();
                sup.progress("mesh ready");
                out.flush();
                if (!exitWhenReady) {
                    stopRequested.await();
                }
                return 0;
            } catch (InterruptedException e) {
                return 130;       // stopped during start-up
            } finally {
                Thread.interrupted();   // a late interrupt must not cut the stop short
                out.println();
                sup.progress("stopping the local mesh");
                sup.close();
                kafka.close();
                sup.progress("stopped");
            }
        } catch (IllegalStateException | LocalKafka.StartException e) {
            out.println("local-mesh: " + e.getMessage());
            return 1;
        } catch (CompletionException e) {
            out.println("local-mesh: " + e.getCause().getMessage());
            return 1;
        }
    }
}
